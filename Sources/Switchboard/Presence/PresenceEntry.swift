import OrderedCollections

/// One tracked presence: a channel instance's `key` on `topic`, with its
/// meta, as every node knows it.
struct PresenceEntry: Sendable, Equatable {
    let topic: String
    let key: String
    /// Unique in the cluster: what phoenix.js tells metas apart by (`phx_ref`).
    let ref: String
    /// The application's fields, with `phx_ref` (and `phx_ref_prev` after an update).
    let meta: JSONObject

    /// The entry as it travels between nodes.
    var json: JSONValue {
        ["topic": .string(topic), "key": .string(key), "ref": .string(ref), "meta": .object(meta)]
    }

    init(topic: String, key: String, ref: String, meta: JSONObject) {
        self.topic = topic
        self.key = key
        self.ref = ref
        self.meta = meta
    }

    /// An entry another node sent; `nil` if it is not one.
    init?(json: JSONValue) {
        guard let topic = json["topic"]?.stringValue, let key = json["key"]?.stringValue,
              let ref = json["ref"]?.stringValue, let meta = json["meta"]?.objectValue
        else { return nil }
        self.init(topic: topic, key: key, ref: ref, meta: meta)
    }
}

/// The presences one node owns, by topic, then key, then `phx_ref`, each
/// key's metas in the order they were tracked.
struct PresenceReplica: Sendable {
    typealias Metas = OrderedDictionary<String, JSONObject>
    private(set) var topics: [String: OrderedDictionary<String, Metas>] = [:]

    init() {}

    init(_ entries: [PresenceEntry]) {
        for entry in entries { insert(entry) }
    }

    mutating func insert(_ entry: PresenceEntry) {
        topics[entry.topic, default: [:]][entry.key, default: [:]][entry.ref] = entry.meta
    }

    /// Whether `key` has a meta on `topic`.
    func lists(topic: String, key: String) -> Bool {
        topics[topic]?[key] != nil
    }

    /// Removes one meta; returns it, or `nil` when there was none.
    @discardableResult
    mutating func remove(topic: String, key: String, ref: String) -> JSONObject? {
        guard let meta = topics[topic]?[key]?.removeValue(forKey: ref) else { return nil }
        if topics[topic]?[key]?.isEmpty == true {
            topics[topic]?.removeValue(forKey: key)
            if topics[topic]?.isEmpty == true { topics.removeValue(forKey: topic) }
        }
        return meta
    }

    /// Every entry, topic by topic.
    var entries: [PresenceEntry] {
        topics.sorted { $0.key < $1.key }.flatMap { topic, keys in
            keys.flatMap { key, metas in metas.map { PresenceEntry(topic: topic, key: key, ref: $0.key, meta: $0.value) } }
        }
    }
}
