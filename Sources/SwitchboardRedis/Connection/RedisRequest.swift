import NIOCore

/// Commands written to a ``RedisCommandHandler`` and what to do with each of
/// their replies, in order.
struct RedisRequest: Sendable {
    /// One or more RESP commands.
    var bytes: ByteBuffer
    /// One entry per command, or runs of publishes.
    var replies: [RedisReplySlot]
    /// The connection's handshake (``RedisConnector``): its replies are left
    /// out of ``RedisCommandHandler/PublishReplies``, which count the
    /// commands of the connection's user (a publisher keeps its unanswered
    /// commands by that count).
    var isHandshake = false
}

/// Who takes a reply of a pipelined command.
enum RedisReplySlot: Sendable {
    /// A caller waiting for the reply (error replies fail it with ``RedisError/server(_:)``).
    case promise(EventLoopPromise<RedisValue>)
    /// `count` fire-and-forget `PUBLISH`es, counted as a run rather than one
    /// entry each.
    case publishes(count: Int)
}

extension RedisReplySlot {
    /// The commands this slot stands for.
    var commandCount: Int {
        switch self {
        case .promise: return 1
        case .publishes(let count): return count
        }
    }
}
