import NIOCore
import NIOWebSocket

/// Holds every client frame to RFC 6455 before anything else reads it, and
/// reads nothing more once the connection is closing.
///
/// A client frame must be masked (§5.1), set no RSV bit but the one of an
/// agreed extension (§5.2; RSV1 for permessage-deflate) and carry a known
/// opcode (§5.2); one that does not closes
/// the connection with 1002. It sits between the frame decoder and the
/// fragment aggregator, which unmasks fragments and would hide a missing
/// mask.
///
/// Once the transport is closing (for any reason: this check, a malformed
/// message, the rate limit), the frames still decoded from bytes already
/// read are dropped here: a client that sent 20,000 bad frames in one write
/// costs one verdict and one log line, not 20,000. The client's close frame
/// is the one frame still looked at: it ends the connection.
final class WebSocketFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let transport: WebSocketTransport
    private let connection: SocketConnection
    private let log: ConnectionErrorLog

    /// permessage-deflate was agreed: RSV1 may mark a message's first frame.
    private let compression: Bool

    init(transport: WebSocketTransport, connection: SocketConnection, log: ConnectionErrorLog, compression: Bool) {
        self.transport = transport
        self.connection = connection
        self.log = log
        self.compression = compression
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !transport.isClosing else {
            // The client's answer to our close frame: the closing handshake is done.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        if let violation = Self.violation(in: frame, compression: compression) {
            log.notice(connection.logger, "closing connection: WebSocket protocol error", metadata: ["error": "\(violation)"])
            connection.close(.protocolError(detail: violation))
            return
        }
        context.fireChannelRead(data)
    }

    /// What is wrong with a client frame, or `nil`. With `compression`,
    /// RSV1 marks a compressed message on its first frame (RFC 7692 §6).
    static func violation(in frame: WebSocketFrame, compression: Bool) -> String? {
        if frame.maskKey == nil { return "unmasked frame" }
        let compressedStart = compression && (frame.opcode == .text || frame.opcode == .binary)
        if (frame.rsv1 && !compressedStart) || frame.rsv2 || frame.rsv3 { return "reserved bits set" }
        switch frame.opcode {
        case .continuation, .text, .binary, .connectionClose, .ping, .pong: return nil
        default: return "unknown opcode"
        }
    }
}
