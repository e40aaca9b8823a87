import CompressNIO
import NIOCore
import NIOWebSocket

/// The receiving side of permessage-deflate: inflates the frames of
/// messages the client compressed (RSV1 on a message's first frame), frame
/// by frame, and hands them on as plain frames. Sits between the frame
/// checks and the fragment aggregator, which would drop the RSV1 bit.
///
/// A message may inflate to at most `maxMessageSize` bytes (a small
/// compressed frame can inflate to gigabytes): past it, or on data that is
/// not deflate, the connection closes (1009, 1002). The inflater exists
/// only while a client that keeps its context is connected, or, when the
/// client resets its context after each message
/// (`client_no_context_takeover`), only while a message is arriving.
final class WebSocketInflater: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let agreement: PerMessageDeflate
    private let maxMessageSize: Int
    private let connection: SocketConnection
    private var decompressor: ZlibDecompressor?
    /// Inside a compressed message: its frames are inflated.
    private var inflating = false
    private var inflatedBytes = 0

    init(agreement: PerMessageDeflate, maxMessageSize: Int, connection: SocketConnection) {
        self.agreement = agreement
        self.maxMessageSize = maxMessageSize
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After the frame validator: nothing arrives here once the close began.
        var frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            inflating = frame.rsv1
            inflatedBytes = 0
        case .continuation:
            break
        default:
            // Control frames are never compressed.
            context.fireChannelRead(data)
            return
        }
        guard inflating else {
            context.fireChannelRead(data)
            return
        }
        do {
            var payload = frame.unmaskedData
            if frame.fin { payload.writeBytes([0, 0, 0xFF, 0xFF]) }
            let decompressor = try self.decompressor ?? ZlibDecompressor(algorithm: .deflate, windowSize: Int32(agreement.clientWindowBits))
            self.decompressor = decompressor
            let inflated = try payload.decompressStream(with: decompressor, maxSize: maxMessageSize - inflatedBytes + 1)
            inflatedBytes += inflated.readableBytes
            guard inflatedBytes <= maxMessageSize else { throw CompressNIOError.bufferOverflow }
            frame.data = inflated
            frame.maskKey = nil
            frame.rsv1 = false
            if frame.fin {
                inflating = false
                if agreement.clientNoContextTakeover { self.decompressor = nil }
            }
            context.fireChannelRead(wrapInboundOut(frame))
        } catch let error as CompressNIOError where error == .bufferOverflow {
            connection.close(.messageTooLarge)
        } catch {
            connection.close(.protocolError(detail: "invalid compressed data"))
        }
    }
}
