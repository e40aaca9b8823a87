import OrderedCollections

/// The joins and leaves of one topic not yet sent to this node's
/// subscribers, as a `presence_diff` payload: `{"joins": {key: {"metas":
/// […]}}, "leaves": {…}}`.
///
/// A meta that joins and leaves within the same diff appears in both halves
/// (phoenix.js applies the joins first): a client that joined meanwhile may
/// have it in its `presence_state`, and only the leave takes it out again.
struct PresenceDiff: Sendable {
    private(set) var joins: OrderedDictionary<String, PresenceReplica.Metas> = [:]
    private(set) var leaves: OrderedDictionary<String, PresenceReplica.Metas> = [:]

    var isEmpty: Bool { joins.isEmpty && leaves.isEmpty }

    mutating func join(key: String, ref: String, meta: JSONObject) {
        joins[key, default: [:]][ref] = meta
    }

    mutating func leave(key: String, ref: String, meta: JSONObject) {
        leaves[key, default: [:]][ref] = meta
    }

    /// The payload, each half passed through `fetch` (``PresenceOptions/fetch``) when there is one.
    func json(topic: String, fetch: PresenceFetch?) -> JSONValue {
        ["joins": Self.json(joins, topic: topic, fetch: fetch), "leaves": Self.json(leaves, topic: topic, fetch: fetch)]
    }

    /// `{key: {"metas": […]}}`, the shape of `presence_state` and of each
    /// half of a diff, passed through `fetch` when there is one (and not empty).
    static func json(_ keys: OrderedDictionary<String, PresenceReplica.Metas>, topic: String, fetch: PresenceFetch?) -> JSONValue {
        var object = JSONObject()
        for (key, metas) in keys {
            object[key] = ["metas": .array(metas.values.map(JSONValue.object))]
        }
        guard let fetch, !object.isEmpty else { return .object(object) }
        return .object(fetch(topic, object))
    }
}

/// ``PresenceOptions/fetch``'s type.
public typealias PresenceFetch = @Sendable (_ topic: String, _ presences: JSONObject) -> JSONObject
