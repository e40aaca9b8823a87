import NIOCore

/// Builds complete server-to-client WebSocket frames (header and payload in
/// one buffer). Server frames are never masked, so the same bytes can be
/// written to every subscriber of a broadcast.
package enum WebSocketFraming {
    /// Room kept in front of the payload for the largest header (2 + 8 bytes).
    private static let headerRoom = 10

    /// Encodes a payload with `body`, which appends it to the buffer and says
    /// whether it is text or binary, and puts the frame header in front
    /// (with RSV1 set when the payload is `compressed`: permessage-deflate).
    static func frame<E: Error>(
        allocator: ByteBufferAllocator,
        capacity: Int = 256,
        compressed: Bool = false,
        _ body: (inout ByteBuffer) throws(E) -> FrameKind
    ) throws(E) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacity + headerRoom)
        buffer.moveWriterIndex(forwardBy: headerRoom)
        buffer.moveReaderIndex(forwardBy: headerRoom)
        let kind = try body(&buffer)
        let length = buffer.readableBytes
        let opcode: UInt8 = kind == .text ? 0x1 : 0x2
        let start: Int
        if length < 126 {
            start = headerRoom - 2
            buffer.setInteger(UInt8(length), at: start + 1)
        } else if length <= Int(UInt16.max) {
            start = headerRoom - 4
            buffer.setInteger(UInt8(126), at: start + 1)
            buffer.setInteger(UInt16(length), at: start + 2)
        } else {
            start = 0
            buffer.setInteger(UInt8(127), at: start + 1)
            buffer.setInteger(UInt64(length), at: start + 2)
        }
        buffer.setInteger((compressed ? 0xC0 : 0x80) | opcode, at: start)
        buffer.moveReaderIndex(to: start)
        return buffer
    }

    /// The payload of a server frame (unmasked, as ``frame(allocator:capacity:_:)``
    /// makes them), sharing its storage.
    static func payload(of frame: ByteBuffer) -> ByteBuffer {
        let lengthByte = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) ?? 0
        let headerLength = lengthByte == 127 ? 10 : lengthByte == 126 ? 4 : 2
        return frame.getSlice(at: frame.readerIndex + headerLength, length: frame.readableBytes - headerLength) ?? ByteBuffer()
    }

    /// The length of a server frame's header for a payload of `length` bytes.
    package static func headerLength(payloadLength length: Int) -> Int {
        length < 126 ? 2 : length <= Int(UInt16.max) ? 4 : 10
    }

    /// Lends `body` the header of an unmasked, final server frame with a
    /// payload of `length` bytes of `kind` (on the stack: nothing allocated).
    @discardableResult
    package static func withHeader<R>(payloadLength length: Int, kind: FrameKind, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let headerLength = headerLength(payloadLength: length)
        return withUnsafeTemporaryAllocation(byteCount: headerLength, alignment: 1) { header in
            header[0] = 0x80 | (kind == .text ? 0x1 : 0x2)
            switch headerLength {
            case 2:
                header[1] = UInt8(length)
            case 4:
                header[1] = 126
                header.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 2, as: UInt16.self)
            default:
                header[1] = 127
                header.storeBytes(of: UInt64(length).bigEndian, toByteOffset: 2, as: UInt64.self)
            }
            return body(UnsafeRawBufferPointer(header))
        }
    }

    /// A frame holding a copy of `payload`, already encoded: the header and
    /// the bytes in one allocation of exactly their size.
    static func frame(_ payload: ByteBuffer, kind: FrameKind, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = payload.readableBytes
        var buffer = allocator.buffer(capacity: headerLength(payloadLength: length) + length)
        withHeader(payloadLength: length, kind: kind) { buffer.writeBytes($0) }
        buffer.writeImmutableBuffer(payload)
        return buffer
    }
}

extension MessageFraming {
    /// A WebSocket text or binary frame around the message.
    package static let webSocket = MessageFraming(
        id: 1,
        wrap: { serialized, kind, allocator in WebSocketFraming.frame(serialized, kind: kind, allocator: allocator) },
        encode: { frame, serializer, allocator throws(ProtocolError) in
            try WebSocketFraming.frame(allocator: allocator) { buffer throws(ProtocolError) in
                try serializer.encodeServerFrame(frame, into: &buffer)
            }
        },
        unwrap: WebSocketFraming.payload(of:)
    )
}
