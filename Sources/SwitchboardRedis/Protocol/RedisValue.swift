import NIOCore

/// A Redis reply (RESP2), copied out of hiredis's reply object.
public enum RedisValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR …`: the server refused the command.
    case error(String)
    /// `:42`
    case integer(Int)
    /// `$5 hello`
    case bulkString(ByteBuffer)
    /// `$-1` or `*-1`
    case null
    /// `*2 …`
    case array([RedisValue])

    /// The text of a simple or bulk string.
    public var string: String? {
        switch self {
        case .simpleString(let string): return string
        case .bulkString(let buffer): return String(buffer: buffer)
        default: return nil
        }
    }

    /// The bytes of a bulk string.
    public var bytes: ByteBuffer? {
        if case .bulkString(let buffer) = self { return buffer }
        return nil
    }

    /// The value of an integer reply.
    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply.
    public var array: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The message of an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
