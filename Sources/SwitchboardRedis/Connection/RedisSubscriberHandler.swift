import NIOCore

/// The end of a subscriber connection's pipeline, once it is in subscribe
/// mode: every reply must be a ``RedisPush``, handed to `onPush` in order.
/// Anything else (an error reply, a stray value) ends the connection, which
/// the subscriber then reconnects; errors (the decoder's included) go to
/// `onError` first. A sharded subscriber (Redis Cluster) gives
/// `onErrorReply`, which keeps the connection when it takes the error
/// reply (`MOVED`: an `SSUBSCRIBE` sent to a node that no longer owns the
/// channel's slot is an answer, not a broken connection).
final class RedisSubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = RedisValue

    private let onPush: (RedisPush) -> Void
    private let onError: (any Error) -> Void
    private let onErrorReply: ((String) -> Bool)?

    init(onPush: @escaping (RedisPush) -> Void, onError: @escaping (any Error) -> Void, onErrorReply: ((String) -> Bool)? = nil) {
        self.onPush = onPush
        self.onError = onError
        self.onErrorReply = onErrorReply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if let message = value.errorMessage, let onErrorReply, onErrorReply(message) {
            return
        }
        guard let push = RedisPush(value) else {
            let error: RedisError = value.errorMessage.map { .server($0) } ?? .unexpectedReply("\(value) in subscribe mode")
            onError(error)
            context.close(promise: nil)
            return
        }
        onPush(push)
    }

    /// Puts a fresh connection from ``RedisConnector`` in subscribe mode:
    /// its command handler goes, a subscriber handler takes its place. The
    /// closures are held strongly; the cycle through the pipeline ends when
    /// the channel closes.
    static func install(
        on channel: any Channel, onPush: @escaping (RedisPush) -> Void, onError: @escaping (any Error) -> Void,
        onErrorReply: ((String) -> Bool)? = nil
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        pipeline.removeHandler(name: RedisConnector.commandHandlerName).whenFailure { _ in }
        try pipeline.addHandler(RedisSubscriberHandler(onPush: onPush, onError: onError, onErrorReply: onErrorReply))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onError(error)
        context.close(promise: nil)
    }
}
