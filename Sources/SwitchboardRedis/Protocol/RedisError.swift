/// What went wrong on one Redis connection. The connection that hit it is
/// closed (and, inside the adapter, reconnected); nothing else is affected.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server's bytes are not RESP (hiredis's reader refused them).
    case protocolViolation(String)
    /// A reply would need more memory than the configured bound.
    case replyTooLarge(limit: Int)
    /// A reply of a shape the command cannot produce.
    case unexpectedReply(String)
    /// The server answered the command with an error reply (`-ERR …`).
    case server(String)
    /// The connection closed before the reply arrived.
    case connectionClosed

    public var description: String {
        switch self {
        case .protocolViolation(let reason): return "redis protocol error: \(reason)"
        case .replyTooLarge(let limit): return "redis reply larger than the \(limit)-byte limit"
        case .unexpectedReply(let reply): return "unexpected redis reply: \(reply)"
        case .server(let message): return "redis error: \(message)"
        case .connectionClosed: return "redis connection closed"
        }
    }
}
