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
    private let runtime: ServerRuntime
    private var rateLimiter: InboundRateLimiter?
    /// Set once the rate limit closed the connection: later frames are dropped.
    private var rateLimited = false

    init(connection: SocketConnection, runtime: ServerRuntime) {
        self.connection = connection
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
        let frame = unwrapInboundIn(data)
        if frame.opcode == .text || frame.opcode == .binary || frame.opcode == .ping {
            guard !rateLimited else { return }
            if rateLimiter?.admit() == false {
                rateLimited = true
                connection.logger.notice("closing connection: message rate limit exceeded")
                connection.close(.rateLimited)
                return
            }
        }
        switch frame.opcode {
        case .text, .binary:
            let kind: FrameKind = frame.opcode == .text ? .text : .binary
            do {
                let message = try connection.serializer.decodeClientFrame(frame.unmaskedData, kind: kind, limits: connection.limits.decoding)
                connection.receive(message)
            } catch {
                connection.logger.notice("closing connection: malformed frame", metadata: ["error": "\(error)"])
                connection.close(.malformedMessage)
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            var reply = context.channel.allocator.buffer(capacity: 2)
            reply.write(webSocketErrorCode: code)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: reply)))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
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
        if error is NIOWebSocketError {
            // The protocol error handler has already sent the close frame (1009 for an oversized frame).
            connection.logger.notice("closing connection: WebSocket protocol error", metadata: ["error": "\(error)"])
            return
        }
        let reason: DisconnectReason
        if let error = error as? NIOWebSocketFrameAggregator.Error, error == .accumulatedFrameSizeIsTooLarge || error == .tooManyFragments {
            reason = .messageTooLarge
        } else {
            reason = .protocolError(detail: "")
        }
        connection.logger.notice("closing connection", metadata: ["error": "\(error)"])
        connection.close(reason)
    }
}
