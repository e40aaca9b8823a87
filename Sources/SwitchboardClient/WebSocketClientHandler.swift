import NIOCore
import NIOWebSocket
import SwitchboardProtocol

/// The last handler of an upgraded connection: hands text and binary
/// messages to the client core on the event loop (no hop, no copy), answers
/// pings, runs the close handshake, and writes the frames the core sends,
/// masked as a client must.
final class WebSocketClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let core: ClientCore
    let connectionID: Int
    private var context: ChannelHandlerContext?
    /// Whether this side has sent its close frame.
    private(set) var closeSent = false

    init(core: ClientCore, connectionID: Int) {
        self.core = core
        self.connectionID = connectionID
    }

    var allocator: ByteBufferAllocator {
        self.context?.channel.allocator ?? ByteBufferAllocator()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            self.core.frameReceived(frame.unmaskedData, kind: .text, connectionID: self.connectionID)
        case .binary:
            self.core.frameReceived(frame.unmaskedData, kind: .binary, connectionID: self.connectionID)
        case .ping:
            self.write(opcode: .pong, data: frame.unmaskedData, maskKey: self.core.nextMaskKey())
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            let reason = data.readString(length: data.readableBytes) ?? ""
            self.core.closeReceived(code: code, reason: reason, connectionID: self.connectionID)
            if self.closeSent {
                context.close(promise: nil)
            } else {
                self.closeSent = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code {
                    echo.writeInteger(code)
                }
                let echoFrame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: self.core.nextMaskKey(), data: echo)
                context.writeAndFlush(Self.wrapOutboundOut(echoFrame)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.core.connectionError(error, connectionID: self.connectionID)
        context.close(promise: nil)
    }

    /// Writes one data frame holding `data` and flushes.
    func write(opcode: WebSocketOpcode, data: ByteBuffer, maskKey: WebSocketMaskingKey) {
        guard let context = self.context else { return }
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: maskKey, data: data)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    /// Starts the close handshake with `code` and `reason`.
    func sendClose(code: UInt16, reason: String, maskKey: WebSocketMaskingKey) {
        guard let context = self.context, !self.closeSent else { return }
        self.closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code)
        data.writeString(reason)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: data)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    /// Closes the TCP connection at once.
    func closeConnection() {
        self.context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension WebSocketClientHandler: Sendable {}
