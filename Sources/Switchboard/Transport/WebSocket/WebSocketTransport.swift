import NIOCore
import NIOWebSocket

/// The WebSocket transport of one socket: sits at the head of the WebSocket
/// pipeline and writes fully framed bytes through its context, below the
/// WebSocket encoder, so broadcast frames made once bypass per-connection
/// framing.
///
/// It also bounds what a client that reads slower than the node writes can
/// queue. NIO's queue takes frames while the channel is writable (up to
/// ``nioQueueLimit(maxOutboundBytes:)``); past that, frames wait here, whole.
/// When the two together pass ``ServerConfiguration/Limits/maxOutboundBytes``
/// the socket is closed with 4008: what waits here is dropped, so the close
/// frame follows at most NIO's short queue, on a frame boundary, and the
/// client reads 4008 rather than a frame cut in the middle.
package final class WebSocketTransport: ChannelDuplexHandler, RemovableChannelHandler, SocketTransport, @unchecked Sendable {
    package typealias InboundIn = NIOAny
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// The socket on this transport; set once it exists, cleared when the
    /// handler leaves the pipeline (which breaks the reference cycle).
    package var connection: SocketConnection?
    private var context: ChannelHandlerContext?
    /// Plain WebSocket frames, or compressed ones (permessage-deflate).
    package let framing: MessageFraming
    /// Set once the connection began to close (a close frame was sent or
    /// answered): what the client sends after that is not read.
    var isClosing = false
    /// Whether NIO's queue takes more, as its last writability event said.
    private var writable = true
    /// Frames waiting for NIO's queue to drain, oldest first; made on first use.
    private var waiting: CircularBuffer<ByteBuffer>?
    private var waitingBytes = 0
    /// How many bytes may wait here before the socket counts as too slow.
    private let waitingLimit: Int

    /// How long a closing connection has to finish: to get the close frame
    /// out and hear the client close its side.
    static let closeGrace = TimeAmount.seconds(2)
    /// The same for a slow consumer, whose close frame follows NIO's queue
    /// and the kernel's buffers, at the client's pace.
    static let slowConsumerCloseGrace = TimeAmount.seconds(5)

    /// NIO's share of the outbound limit (its write buffer's high water
    /// mark): small, so that a close frame queued behind it gets out soon.
    package static func nioQueueLimit(maxOutboundBytes: Int) -> Int {
        min(256 << 10, max(1, maxOutboundBytes / 2))
    }

    package init(maxOutboundBytes: Int = 4 << 20, framing: MessageFraming = .webSocket) {
        self.framing = framing
        self.waitingLimit = max(0, maxOutboundBytes - Self.nioQueueLimit(maxOutboundBytes: maxOutboundBytes))
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
        connection?.writePath = WritePathAddresses(self, context, context.pipeline, large: context.channel)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        connection?.writePath = .none
        connection = nil
        waiting = nil
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable, waiting != nil {
            while writable, let next = waiting?.popFirst() {
                waitingBytes -= next.readableBytes
                context.write(NIOAny(next), promise: nil)
            }
            if waiting?.isEmpty == true { waiting = nil }
            context.flush()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - SocketTransport

    package func write(_ bytes: ByteBuffer) {
        guard let context else { return }
        if writable, waiting == nil {
            context.write(NIOAny(bytes), promise: nil)
        } else {
            wait(bytes)
        }
    }

    /// Keeps a frame until NIO's queue drains; past the limit, the client is too slow.
    private func wait(_ bytes: ByteBuffer) {
        // Past the limit the close is under way: nothing more will be sent.
        guard !isClosing, waitingBytes <= waitingLimit else { return }
        waiting = waiting ?? CircularBuffer(initialCapacity: 64)
        waiting!.append(bytes)
        waitingBytes += bytes.readableBytes
        if waitingBytes > waitingLimit {
            connection?.outboundOverflowed()
        }
    }

    package func flush() {
        context?.flush()
    }

    package var isActive: Bool {
        !isClosing && context?.channel.isActive == true
    }

    /// Sends a close frame with the reason's code, ahead of every frame
    /// still waiting here (they are dropped), then closes: a lingering close,
    /// in which only the sending side is shut at once. Closing outright with
    /// the client's frames unread would answer them with a reset, which can
    /// destroy the close frame before the client reads it. The client's
    /// close frame or its own close ends the connection
    /// (``WebSocketFrameValidator``), or at the latest ``closeGrace``
    /// (``slowConsumerCloseGrace`` for a slow consumer).
    package func close(_ reason: DisconnectReason) {
        guard isActive, let channel = context?.channel else { return }
        isClosing = true
        waiting = nil
        waitingBytes = 0
        let (code, text) = CloseCode.closing(for: reason)
        var data = channel.allocator.buffer(capacity: 2 + text.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(text)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        channel.writeAndFlush(frame).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        let grace = reason == .slowConsumer ? Self.slowConsumerCloseGrace : Self.closeGrace
        channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    }
}
