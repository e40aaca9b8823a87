import NIOCore

/// Builds complete server-to-client WebSocket frames (header and payload in
/// one buffer). Server frames are never masked, so the same bytes can be
/// written to every subscriber of a broadcast.
enum WebSocketFraming {
    /// Room kept in front of the payload for the largest header (2 + 8 bytes).
    private static let headerRoom = 10

    /// Encodes a payload with `body`, which appends it to the buffer and says
    /// whether it is text or binary, and puts the frame header in front.
    static func frame<E: Error>(
        allocator: ByteBufferAllocator,
        capacity: Int = 256,
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
        buffer.setInteger(0x80 | opcode, at: start)
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

    /// A frame holding a copy of `payload`, already encoded: the header and
    /// the bytes in one allocation of exactly their size.
    static func frame(_ payload: ByteBuffer, kind: FrameKind, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = payload.readableBytes
        let headerLength = length < 126 ? 2 : length <= Int(UInt16.max) ? 4 : 10
        var buffer = allocator.buffer(capacity: headerLength + length)
        buffer.writeInteger(0x80 | (kind == .text ? 0x1 : 0x2) as UInt8)
        switch headerLength {
        case 2:
            buffer.writeInteger(UInt8(length))
        case 4:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
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
