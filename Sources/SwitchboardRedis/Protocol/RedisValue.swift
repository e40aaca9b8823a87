import NIOCore

/// A Redis reply (RESP2), copied out of hiredis's reply object.
enum RedisValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR …`: the server refused the command.
    case error(String)
    /// `:42`
    case integer(Int)
    /// `$5 hello`. Boxed, so that the common small replies (`:1`, `+OK`)
    /// fit in `NIOAny`'s inline storage and travel the pipeline without an
    /// allocation.
    indirect case bulkString(ByteBuffer)
    /// `$-1` or `*-1`
    case null
    /// `*2 …`
    case array([RedisValue])

    /// The text of a simple or bulk string.
    var string: String? {
        switch self {
        case .simpleString(let string): return string
        case .bulkString(let buffer): return String(buffer: buffer)
        default: return nil
        }
    }

    /// The bytes of a bulk string.
    var bytes: ByteBuffer? {
        if case .bulkString(let buffer) = self { return buffer }
        return nil
    }

    /// The message of an error reply.
    var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
