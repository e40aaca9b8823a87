import NIOCore
import NIOHTTP1

/// The last handler of an ``HTTPClientConnection``'s pipeline: gathers each
/// response (head and body, up to a size limit) and hands it to the
/// connection; reports the channel going inactive and closes it on errors.
final class HTTPResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private weak var connection: HTTPClientConnection?
    private let maxBodySize: Int
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    init(connection: HTTPClientConnection, maxBodySize: Int) {
        self.connection = connection
        self.maxBodySize = maxBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = context.channel.allocator.buffer(capacity: 0)
        case .body(var part):
            guard self.head != nil else { return }
            if (self.body?.readableBytes ?? 0) + part.readableBytes > self.maxBodySize {
                self.head = nil
                self.body = nil
                self.connection?.responseFailed(
                    ClientError.longPollFailed("answer larger than \(self.maxBodySize) bytes"),
                    channel: context.channel
                )
                context.close(promise: nil)
                return
            }
            self.body?.writeBuffer(&part)
        case .end:
            guard let head = self.head else { return }
            let body = self.body ?? ByteBuffer()
            self.head = nil
            self.body = nil
            self.connection?.responseReceived(HTTPClientConnection.Response(head: head, body: body), channel: context.channel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection?.channelClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection?.responseFailed(ClientError.longPollFailed("\(error)"), channel: context.channel)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPResponseCollector: Sendable {}
