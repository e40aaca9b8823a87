/// A Phoenix message: `[join_ref, ref, topic, event, payload]` in V2 terms.
///
/// A server push to one client carries the channel's `joinRef` and no `ref`;
/// a broadcast carries neither.
public struct Message: Sendable, Hashable {
    public var joinRef: String?
    public var ref: String?
    public var topic: String
    public var event: String
    public var payload: Payload

    public init(joinRef: String? = nil, ref: String? = nil, topic: String, event: String, payload: Payload = .empty) {
        self.joinRef = joinRef
        self.ref = ref
        self.topic = topic
        self.event = event
        self.payload = payload
    }
}

/// The reserved event names of the protocol.
public enum ChannelEvent {
    public static let join = "phx_join"
    public static let leave = "phx_leave"
    public static let reply = "phx_reply"
    public static let close = "phx_close"
    public static let error = "phx_error"
    public static let heartbeat = "heartbeat"
    /// The topic that heartbeats are sent on.
    public static let heartbeatTopic = "phoenix"
}
