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

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onError(error)
        context.close(promise: nil)
    }
}
