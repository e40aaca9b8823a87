import NIOCore

/// Sits at the head of a WebSocket pipeline and gives the connection a
/// context to write fully framed bytes through, below the WebSocket encoder:
/// broadcast frames, encoded once, bypass per-connection framing.
///
/// It also watches the outbound queue: when a client reads slower than the
/// node writes and the queue passes the write buffer's high water mark
/// (``ServerConfiguration/Limits/maxOutboundBytes``), the connection is closed
/// rather than left to grow the node's memory.
package final class FramedWriter: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = NIOAny
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private let connection: SocketConnection

    package init(connection: SocketConnection) {
        self.connection = connection
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        connection.writerContext = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        connection.writerContext = nil
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            connection.outboundOverflowed()
        }
        context.fireChannelWritabilityChanged()
    }
}
