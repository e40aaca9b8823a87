import NIOCore
import NIOWebSocket

/// Sends every message back as it came, in place of
/// ``WebSocketConnectionHandler``, for a mount with
/// ``SocketEndpoint/echoesFrames``: what a WebSocket conformance suite
/// needs to test the rest of the transport. Text must be UTF-8 (1007);
/// pings are answered; a close frame is answered as the real handler does.
final class WebSocketEchoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connection: SocketConnection
    private let transport: WebSocketTransport

    init(connection: SocketConnection, transport: WebSocketTransport) {
        self.connection = connection
        self.transport = transport
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text where !WebSocketCloseHandshake.isUTF8(frame.unmaskedData):
            connection.close(.invalidText)
        case .text, .binary:
            // Through the transport's framing, as every message the server sends (compressed when agreed).
            transport.write(transport.framing.wrap(frame.unmaskedData, frame.opcode == .text ? .text : .binary, context.channel.allocator))
            transport.flush()
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            transport.isClosing = true
            WebSocketCloseHandshake.answer(context: context, closeFrame: frame)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !transport.isClosing else { return }
        guard let reason = DisconnectReason.forWebSocketError(error) else {
            transport.isClosing = true
            return
        }
        connection.close(reason)
    }
}
