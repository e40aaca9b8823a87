/// The built-in channel for `room:*` topics, a chat room anyone may join.
///
/// - `shout`: broadcasts the payload to everyone in the room (the sender
///   included) under the event `shout`, and replies ok `{}`.
/// - `ping`: replies ok with the payload it got.
/// - `node`: replies ok `{"node": <this node's name>}`, so a client (the
///   demo page) can show which node it is connected to.
/// - anything else: replies error `{"reason": "unknown event"}`.
///
/// It keeps no state, so one value can serve every join:
/// `router.channel("room:*") { RoomChannel() }`.
public struct RoomChannel: Channel {
    public init() {}

    /// Every join is accepted, with an empty response.
    public func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
        .ok([:])
    }

    public func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
        switch event {
        case "shout":
            try await context.broadcast("shout", payload)
            return .ok()
        case "ping":
            return .reply(.ok, payload)
        case "node":
            return .ok(["node": .string(context.pubsub.nodeName)])
        default:
            return Self.unknownEvent
        }
    }

    /// The reply to an event the channel does not handle.
    static let unknownEvent = HandleInResult.error(["reason": "unknown event"])
}
