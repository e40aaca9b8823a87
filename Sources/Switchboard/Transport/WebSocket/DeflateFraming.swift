import CompressNIO
import NIOCore
import NIOPosix

extension MessageFraming {
    /// WebSocket frames whose payload is compressed with permessage-deflate
    /// (RFC 7692), no context kept between messages, with a window of
    /// `windowBits` (9 to 15): one framing, and so one cached copy of each
    /// broadcast per event loop, per window. Messages shorter than
    /// ``DeflateCompression/minimumSize`` go uncompressed (RSV1 clear), as
    /// the RFC allows: compressing them costs more than it saves.
    package static func webSocketDeflate(windowBits: Int) -> MessageFraming {
        deflateFramings[min(max(windowBits, 9), 15) - 9]
    }

    private static let deflateFramings: [MessageFraming] = (9...15).map { bits in
        MessageFraming(
            id: UInt8(0x10 + bits),
            wrap: { serialized, kind, allocator in DeflateCompression.frame(serialized, kind: kind, windowBits: bits, allocator: allocator) },
            encode: { frame, serializer, allocator throws(ProtocolError) in
                var serialized = allocator.buffer(capacity: 256)
                let kind = try serializer.encodeServerFrame(frame, into: &serialized)
                return DeflateCompression.frame(serialized, kind: kind, windowBits: bits, allocator: allocator)
            },
            unwrap: DeflateCompression.payload(of:)
        )
    }
}

/// The compressing side of permessage-deflate: one raw-deflate compressor
/// per thread and window size, reset after every message, so event loops
/// compress without sharing or locking anything.
enum DeflateCompression {
    /// Messages shorter than this are sent uncompressed.
    static let minimumSize = 128

    /// A thread's compressors, by window size (9 to 15), made on first use.
    private final class Compressors: @unchecked Sendable {
        var byWindow: [ZlibCompressor?] = Array(repeating: nil, count: 7)
    }

    private static let perThread = ThreadSpecificVariable<Compressors>()

    /// A server frame holding `serialized`, compressed (RSV1 set) when it is
    /// long enough and compression works, as it is otherwise.
    static func frame(_ serialized: ByteBuffer, kind: FrameKind, windowBits: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard serialized.readableBytes >= minimumSize, let compressor = compressor(windowBits: windowBits) else {
            return WebSocketFraming.frame(serialized, kind: kind, allocator: allocator)
        }
        do {
            defer { try? compressor.reset() }
            return try WebSocketFraming.frame(allocator: allocator, capacity: compressor.maxSize(from: serialized), compressed: true) { buffer in
                var input = serialized
                try compressor.deflate(from: &input, to: &buffer, flush: .sync)
                // A sync flush ends with 00 00 FF FF, which the receiver puts back (RFC 7692 §7.2.1).
                guard input.readableBytes == 0, buffer.readableBytes >= 4 else { throw CompressNIOError.bufferOverflow }
                buffer.moveWriterIndex(to: buffer.writerIndex - 4)
                return kind
            }
        } catch {
            return WebSocketFraming.frame(serialized, kind: kind, allocator: allocator)
        }
    }

    /// The payload of a server frame made by ``frame(_:kind:windowBits:allocator:)``, inflated when it was compressed.
    static func payload(of frame: ByteBuffer) -> ByteBuffer {
        let payload = WebSocketFraming.payload(of: frame)
        guard let first = frame.getInteger(at: frame.readerIndex, as: UInt8.self), first & 0x40 != 0 else { return payload }
        var compressed = payload
        compressed.writeBytes([0, 0, 0xFF, 0xFF])
        guard let decompressor = try? ZlibDecompressor(algorithm: .deflate, windowSize: 15),
              let inflated = try? compressed.decompressStream(with: decompressor)
        else { return ByteBuffer() }
        return inflated
    }

    private static func compressor(windowBits: Int) -> ZlibCompressor? {
        let compressors: Compressors
        if let existing = perThread.currentValue {
            compressors = existing
        } else {
            compressors = Compressors()
            perThread.currentValue = compressors
        }
        let index = windowBits - 9
        if let compressor = compressors.byWindow[index] { return compressor }
        let compressor = try? ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration(windowSize: Int32(windowBits), memoryLevel: 8))
        compressors.byWindow[index] = compressor
        return compressor
    }
}
