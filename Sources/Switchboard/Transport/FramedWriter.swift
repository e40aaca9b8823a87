import NIOCore

/// Sits at the head of a WebSocket pipeline and gives the connection a
/// context to write fully framed bytes through, below the WebSocket encoder:
/// broadcast frames, encoded once, bypass per-connection framing.
final class FramedWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: SocketConnection

    init(connection: SocketConnection) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connection.writerContext = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection.writerContext = nil
    }
}
