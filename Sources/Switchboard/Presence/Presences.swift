import OrderedCollections

/// Who is on which topic, on every node (Phoenix's `Presence.list/1` and
/// `get_by_key/2`), from ``SwitchboardServer/presence`` or a channel's
/// ``ChannelContext/presences``.
public struct Presences: Sendable {
    let tracker: PresenceTracker

    /// Every presence on `topic`: `{key: {"metas": […]}}`, as
    /// `presence_state` sends it (through ``PresenceOptions/fetch``); each
    /// meta carries its `phx_ref`. A client the server moved (shed, drain)
    /// is listed until it is back or ``PresenceOptions/rejoinGrace`` has passed.
    public func list(topic: String) -> JSONValue {
        PresenceDiff.json(tracker.list(topic: topic), topic: topic, fetch: tracker.options.fetch)
    }

    /// The metas of `key` on `topic`, every node's; empty when it is not present.
    public func get(topic: String, key: String) -> [JSONObject] {
        tracker.list(topic: topic)[key].map { Array($0.values) } ?? []
    }
}

extension ChannelContext {
    /// Tracks this client as present on the channel's topic under `key`
    /// (Phoenix's `Presence.track/3`), usually in ``Channel/join(topic:payload:context:)``
    /// of a channel whose ``Channel/tracksPresence`` is true. Every
    /// subscriber of the topic, on every node, gets it in a `presence_diff`;
    /// it ends with this channel instance (leave, close, crash, shed).
    /// Returns its `phx_ref`.
    @discardableResult
    public func track(key: String, meta: JSONObject = [:]) throws(PresenceError) -> String {
        try instance.connection.presence.track(instance: instance.id, topic: topic, key: key, meta: meta)
    }

    /// Replaces the meta of a presence this instance tracks (Phoenix's
    /// `Presence.update/3`): a join of the new meta, with `phx_ref_prev`,
    /// and a leave of the old, in one diff. Returns the new `phx_ref`.
    @discardableResult
    public func update(key: String, meta: JSONObject) throws(PresenceError) -> String {
        try instance.connection.presence.update(instance: instance.id, key: key, meta: meta)
    }

    /// Ends a presence this instance tracks (Phoenix's `Presence.untrack/2`).
    public func untrack(key: String) throws(PresenceError) {
        guard instance.connection.presence.untrack(instance: instance.id, key: key) else { throw .notTracked(key: key) }
    }

    /// Who is present, on this topic and any other, across the cluster.
    public var presences: Presences { Presences(tracker: instance.connection.presence) }
}
