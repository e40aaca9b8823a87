import NIOCore

/// Sits at the head of a WebSocket pipeline and gives the connection a
/// context to write fully framed bytes through, below the WebSocket encoder:
/// broadcast frames, encoded once, bypass per-connection framing.
///
/// It also watches the outbound queue: when a client reads slower than the
/// node writes and the queue passes the write buffer's high water mark
/// (``ServerConfiguration/Limits/maxOutboundBytes``), the connection is closed
/// rather than left to grow the node's memory.
final class FramedWriter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
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

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            connection.outboundOverflowed()
        }
        context.fireChannelWritabilityChanged()
    }
}
