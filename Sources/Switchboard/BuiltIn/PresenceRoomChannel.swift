import FoundationEssentials

/// ``RoomChannel`` with presence (`switchboard serve` with `presence: true`):
/// a client whose socket names its user (the `user_id` assign) is tracked
/// under that id for as long as it is in the room, with the meta
/// `{"online_at": <ms since 1970>, "node": <node name>}` and the fields of
/// the join payload's `meta` object (at most ``PresenceOptions/maxMetaBytes``
/// in all, or the join is refused). Clients get `presence_state` after
/// joining and `presence_diff` as people come and go, as phoenix.js's
/// `Presence` expects.
public struct PresenceRoomChannel: Channel {
    public static var tracksPresence: Bool { true }

    private let room = RoomChannel()

    public init() {}

    public func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
        guard let userID = context.assigns[DemoSocket.userIDKey].flatMap(UserChannel.userIDString) else { return .ok([:]) }
        var meta = payload["meta"]?.objectValue ?? [:]
        meta["online_at"] = .int(Int(Date().timeIntervalSince1970 * 1000))
        meta["node"] = .string(context.pubsub.nodeName)
        do {
            try context.track(key: userID, meta: meta)
        } catch {
            return .error(["reason": .string("\(error)")])
        }
        return .ok([:])
    }

    public func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
        try await room.handleIn(event: event, payload: payload, context: context)
    }
}
