/// What went wrong on one Redis connection. The connection that hit it is
/// closed (and, inside the adapter, reconnected); nothing else is affected.
/// (A struct around a private enum: a new kind of error is not a breaking change.)
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case protocolViolation(String)
        case replyTooLarge(limit: Int)
        case unexpectedReply(String)
        case server(String)
        case connectionClosed
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// The server's bytes are not RESP (hiredis's reader refused them).
    public static func protocolViolation(_ detail: String) -> RedisError {
        RedisError(.protocolViolation(detail))
    }

    /// A reply would need more memory than the configured bound.
    public static func replyTooLarge(limit: Int) -> RedisError {
        RedisError(.replyTooLarge(limit: limit))
    }

    /// A reply of a shape the command cannot produce.
    public static func unexpectedReply(_ detail: String) -> RedisError {
        RedisError(.unexpectedReply(detail))
    }

    /// The server answered the command with an error reply (`-ERR …`).
    public static func server(_ detail: String) -> RedisError {
        RedisError(.server(detail))
    }

    /// The connection closed before the reply arrived.
    public static let connectionClosed = RedisError(.connectionClosed)

    /// The server's error reply, for a ``server(_:)`` error.
    package var serverMessage: String? {
        if case .server(let message) = base { message } else { nil }
    }

    public var description: String {
        switch base {
        case .protocolViolation(let reason): return "redis protocol error: \(reason)"
        case .replyTooLarge(let limit): return "redis reply larger than the \(limit)-byte limit"
        case .unexpectedReply(let reply): return "unexpected redis reply: \(reply)"
        case .server(let message): return "redis error: \(message)"
        case .connectionClosed: return "redis connection closed"
        }
    }
}
