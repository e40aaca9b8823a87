import Logging
import NIOCore
import NIOWebSocket

/// Turns WebSocket frames into Phoenix messages for one ``SocketConnection``,
/// answers control frames and enforces the heartbeat timeout and the inbound
/// message rate limit.
final class WebSocketConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connection: SocketConnection
    private let transport: WebSocketTransport
    private let runtime: ServerRuntime
    private var rateLimiter: InboundRateLimiter?

    init(connection: SocketConnection, transport: WebSocketTransport, runtime: ServerRuntime) {
        self.connection = connection
        self.transport = transport
        self.runtime = runtime
        self.rateLimiter = runtime.configuration.limits.inboundMessageRate.map { InboundRateLimiter(rate: $0) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connection.dispatcher.connections.register(connection)
        runtime.connectionOpened()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed()
        connection.dispatcher.connections.unregister(connection)
        runtime.connectionClosed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing arrives here once the close began: the frame validator drops it.
        let frame = unwrapInboundIn(data)
        // Every frame but a close counts toward the rate: pings and pongs are
        // as cheap to send as messages, and cost the node as much.
        if frame.opcode != .connectionClose, rateLimiter?.admit() == false {
            close(.rateLimited, log: "closing connection: message rate limit exceeded")
            return
        }
        switch frame.opcode {
        case .text, .binary:
            let kind: FrameKind = frame.opcode == .text ? .text : .binary
            do {
                let message = try connection.serializer.decodeClientFrame(frame.unmaskedData, kind: kind, limits: connection.limits.decoding)
                connection.receive(message)
            } catch {
                // Looked at only now, off the path of every good message.
                if kind == .text, !WebSocketCloseHandshake.isUTF8(frame.unmaskedData) {
                    close(.invalidText, log: "closing connection: text frame is not UTF-8")
                } else {
                    close(.malformedMessage, log: "closing connection: malformed frame", error: error)
                }
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            transport.isClosing = true
            WebSocketCloseHandshake.answer(context: context, closeFrame: frame)
        default:
            // Pongs (unsolicited: the server sends no pings) need no answer.
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            connection.logger.info("closing connection: heartbeat timeout")
            connection.close(.heartbeatTimeout)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !transport.isClosing else { return }
        guard let reason = DisconnectReason.forWebSocketError(error) else {
            transport.isClosing = true
            runtime.connectionErrors.notice(connection.logger, "closing connection: WebSocket protocol error", metadata: ["error": "\(error)"])
            return
        }
        close(reason, log: "closing connection", error: error)
    }

    /// Closes with `reason`, logging one line within the node's budget.
    private func close(_ reason: DisconnectReason, log message: Logger.Message, error: (any Error)? = nil) {
        runtime.connectionErrors.notice(connection.logger, message, metadata: error.map { ["error": "\($0)"] } ?? [:])
        connection.close(reason)
    }
}
