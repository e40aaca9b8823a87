import NIOCore

/// The end of a subscriber connection's pipeline, once it is in subscribe
/// mode: every reply must be a ``RedisPush``, handed to `onPush` in order.
/// Anything else (an error reply, a stray value) ends the connection, which
/// the subscriber then reconnects; errors (the decoder's included) go to
/// `onError` first.
final class RedisSubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = RedisValue

    private let onPush: (RedisPush) -> Void
    private let onError: (any Error) -> Void

    init(onPush: @escaping (RedisPush) -> Void, onError: @escaping (any Error) -> Void) {
        self.onPush = onPush
        self.onError = onError
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
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
        on channel: any Channel, onPush: @escaping (RedisPush) -> Void, onError: @escaping (any Error) -> Void
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        pipeline.removeHandler(name: RedisConnector.commandHandlerName).whenFailure { _ in }
        try pipeline.addHandler(RedisSubscriberHandler(onPush: onPush, onError: onError))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onError(error)
        context.close(promise: nil)
    }
}
