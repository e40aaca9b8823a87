import NIOCore
import NIOWebSocket

/// The WebSocket transport of one socket: sits at the head of the WebSocket
/// pipeline and writes fully framed bytes through its context, below the
/// WebSocket encoder, so broadcast frames made once bypass per-connection
/// framing.
///
/// It also watches the outbound queue: when a client reads slower than the
/// node writes and the queue passes the write buffer's high water mark
/// (``ServerConfiguration/Limits/maxOutboundBytes``), the socket is closed
/// with 4008 rather than left to grow the node's memory.
package final class WebSocketTransport: ChannelDuplexHandler, RemovableChannelHandler, SocketTransport, @unchecked Sendable {
    package typealias InboundIn = NIOAny
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// The socket on this transport; set once it exists, cleared when the
    /// handler leaves the pipeline (which breaks the reference cycle).
    package var connection: SocketConnection?
    private var context: ChannelHandlerContext?
    package var framing: MessageFraming { .webSocket }
    /// Set once the connection began to close (a close frame was sent or
    /// answered): what the client sends after that is not read.
    var isClosing = false

    /// How long a closing connection waits for the client to close its side.
    static let closeGrace = TimeAmount.seconds(2)

    package init() {}

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connection?.writePath = WritePathAddresses(self, context, context.pipeline, large: context.channel)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        connection?.writePath = .none
        connection = nil
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            connection?.outboundOverflowed()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - SocketTransport

    package func write(_ bytes: ByteBuffer) {
        context?.write(NIOAny(bytes), promise: nil)
    }

    package func flush() {
        context?.flush()
    }

    package var isActive: Bool {
        !isClosing && context?.channel.isActive == true
    }

    /// Sends a close frame with the reason's code and closes the channel once
    /// it is out. A slow consumer's close frame may never get through its
    /// full queue, so that channel is closed a second later regardless.
    package func close(_ reason: DisconnectReason) {
        guard isActive, let channel = context?.channel else { return }
        isClosing = true
        let (code, text) = CloseCode.closing(for: reason)
        var data = channel.allocator.buffer(capacity: 2 + text.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(text)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        // A lingering close: only the sending side is shut at once. Closing
        // outright with the client's frames unread would answer them with a
        // reset, which can destroy the close frame before the client reads
        // it. The client's close frame or its own close ends the connection
        // (``WebSocketFrameValidator``), or at the latest the grace period.
        channel.writeAndFlush(frame).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        }
        if reason == .slowConsumer {
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }
}
