import NIOCore

/// Turns the bytes of a Redis connection into ``RedisValue``s, with hiredis's
/// reader doing the parsing. Use it as `ByteToMessageHandler(RedisReplyDecoder(limits:))`.
///
/// hiredis keeps its own buffer, so every byte is handed over as it arrives
/// and every reply it completes is emitted in the same call (the reader may
/// hold several pipelined replies after one read). A reader error — bytes that
/// are not RESP, or a reply over the limits — is thrown, which ends the
/// connection: a Redis stream cannot be resynchronised.
struct RedisReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RedisValue

    /// Where the decoder is.
    enum State {
        /// Parsing; the reader may hold the start of an incomplete reply.
        case parsing(HiredisReader)
        /// The stream was not RESP or broke a limit; the rest is discarded.
        case failed(RedisError)
    }

    private var state: State

    init(limits: HiredisReader.Limits = HiredisReader.Limits()) {
        self.state = .parsing(HiredisReader(limits: limits))
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .failed:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        case .parsing(let reader):
            let bytes = buffer.readableBytesView
            buffer.moveReaderIndex(to: buffer.writerIndex)
            do {
                try reader.feed(bytes)
                while let value = try reader.nextReply() {
                    context.fireChannelRead(wrapInboundOut(value))
                }
            } catch {
                state = .failed(error)
                throw error
            }
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Whatever is left is the start of a reply that will never complete.
        _ = try decode(context: context, buffer: &buffer)
        return .needMoreData
    }
}
