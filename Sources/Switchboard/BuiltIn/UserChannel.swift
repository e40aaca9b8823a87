/// The built-in channel for `user:<id>` topics: a private topic per user,
/// which only that user's sockets may join. Servers push to it through
/// `POST /api/broadcast` (topic `user:42`).
///
/// A join succeeds when `<id>` equals the socket's `user_id` assign (a string,
/// or an integer compared by its decimal form); any other join is refused with
/// `{"reason": "unauthorized"}`. Client messages get `{"reason": "unknown event"}`.
public struct UserChannel: Channel {
    /// The topic prefix this channel serves.
    public static let topicPrefix = "user:"

    public init() {}

    public func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
        Self.authorize(topic: topic, assigns: context.assigns)
    }

    public func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
        RoomChannel.unknownEvent
    }

    /// The join decision: ok `{}` for the socket's own user topic, error
    /// `{"reason": "unauthorized"}` for any other.
    static func authorize(topic: String, assigns: Assigns) -> JoinResult {
        guard
            topic.hasPrefix(topicPrefix),
            let assigned = assigns[DemoSocket.userIDKey].flatMap(userIDString),
            topic.dropFirst(topicPrefix.count) == assigned
        else {
            return .error(["reason": "unauthorized"])
        }
        return .ok([:])
    }

    /// A user id assign as a string: a non-empty string as is, an integer in decimal.
    static func userIDString(_ value: JSONValue) -> String? {
        switch value {
        case .string(let string) where !string.isEmpty: return string
        case .int(let int): return String(int)
        default: return nil
        }
    }
}
