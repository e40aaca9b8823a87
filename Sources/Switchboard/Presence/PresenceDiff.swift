import OrderedCollections

/// The joins and leaves of one topic not yet sent to this node's
/// subscribers, as a `presence_diff` payload: `{"joins": {key: {"metas":
/// […]}}, "leaves": {…}}`. A meta that joins and leaves within the same
/// diff appears in neither.
struct PresenceDiff: Sendable {
    private(set) var joins: OrderedDictionary<String, PresenceReplica.Metas> = [:]
    private(set) var leaves: OrderedDictionary<String, PresenceReplica.Metas> = [:]

    var isEmpty: Bool { joins.isEmpty && leaves.isEmpty }

    mutating func join(key: String, ref: String, meta: JSONObject) {
        joins[key, default: [:]][ref] = meta
    }

    mutating func leave(key: String, ref: String, meta: JSONObject) {
        if joins[key]?.removeValue(forKey: ref) != nil {
            if joins[key]?.isEmpty == true { joins.removeValue(forKey: key) }
            return
        }
        leaves[key, default: [:]][ref] = meta
    }

    var json: JSONValue {
        ["joins": Self.json(joins), "leaves": Self.json(leaves)]
    }

    /// `{key: {"metas": […]}}`, the shape of `presence_state` and of each half of a diff.
    static func json(_ keys: OrderedDictionary<String, PresenceReplica.Metas>) -> JSONValue {
        var object = JSONObject()
        for (key, metas) in keys {
            object[key] = ["metas": .array(metas.values.map(JSONValue.object))]
        }
        return .object(object)
    }
}
