import NIOCore
import NIOHTTP1

/// The end of one publisher connection's pipeline: writes the requests the
/// ``PublisherState`` hands it and matches the responses to them in order
/// (HTTP/1.1 pipelining answers in request order).
final class BroadcastResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let state: PublisherState
    let index: Int
    private var context: ChannelHandlerContext?
    private var status: Int?
    /// Requests written and not answered yet.
    private(set) var outstanding = 0

    init(state: PublisherState, index: Int) {
        self.state = state
        self.index = index
    }

    var isOpen: Bool { self.context?.channel.isActive ?? false }

    var allocator: ByteBufferAllocator { self.context?.channel.allocator ?? ByteBufferAllocator() }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func write(head: HTTPRequestHead, body: ByteBuffer) {
        guard let context = self.context else { return }
        self.outstanding += 1
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func flush() {
        self.context?.flush()
    }

    func close() -> EventLoopFuture<Void> {
        guard let context = self.context else { return self.state.eventLoop.makeSucceededVoidFuture() }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(promise: promise)
        return promise.futureResult.recover { _ in }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = Int(head.status.code)
        case .body:
            break
        case .end:
            self.outstanding = max(0, self.outstanding - 1)
            let status = self.status ?? 0
            self.status = nil
            self.state.responded(status: status)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let unanswered = self.outstanding
        self.outstanding = 0
        self.state.connectionClosed(unanswered: unanswered)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension BroadcastResponseHandler: Sendable {}
