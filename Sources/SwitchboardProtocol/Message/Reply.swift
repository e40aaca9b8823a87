/// The status of a reply: `"ok"` or `"error"` in every Phoenix client, but any
/// string is allowed on the wire.
public struct ReplyStatus: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let ok = ReplyStatus(rawValue: "ok")
    public static let error = ReplyStatus(rawValue: "error")
}

/// A `phx_reply`: the answer to a client message, echoing its `ref` and the
/// channel's `joinRef`.
///
/// In JSON it is the message `[join_ref, ref, topic, "phx_reply", {"status": …, "response": …}]`;
/// with a binary response it is a V2 binary frame of kind 1.
public struct Reply: Sendable, Hashable {
    public var joinRef: String?
    public var ref: String?
    public var topic: String
    public var status: ReplyStatus
    public var response: Payload

    public init(joinRef: String?, ref: String?, topic: String, status: ReplyStatus, response: Payload = .empty) {
        self.joinRef = joinRef
        self.ref = ref
        self.topic = topic
        self.status = status
        self.response = response
    }
}

/// Anything the server writes to a client: a message (push, broadcast,
/// `phx_close`, `phx_error`) or a reply.
public enum OutboundFrame: Sendable, Hashable {
    case message(Message)
    case reply(Reply)
}
