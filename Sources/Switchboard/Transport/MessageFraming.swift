import NIOCore

/// How a transport wraps one serialized Phoenix message on the wire: a
/// WebSocket puts a frame header in front of it; a transport that sends the
/// serialized text as it is uses ``plain``.
///
/// The fan-out makes the bytes of a broadcast once per (serializer, framing)
/// and event loop; ``id`` tells framings apart with one comparison per
/// delivery.
package struct MessageFraming: Sendable {
    /// Distinct for every framing.
    package let id: UInt8
    /// A wrapped copy of a serialized message (``PubSubMessage/encoded``).
    package let wrap: @Sendable (_ serialized: ByteBuffer, _ kind: FrameKind, _ allocator: ByteBufferAllocator) -> ByteBuffer
    /// Serializes `frame` with `serializer` straight into its wrapping.
    package let encode: @Sendable (_ frame: OutboundFrame, _ serializer: any Serializer, _ allocator: ByteBufferAllocator) throws(ProtocolError) -> ByteBuffer
    /// The serialized message inside a wrapped one, sharing its storage.
    package let unwrap: @Sendable (_ wrapped: ByteBuffer) -> ByteBuffer

    package init(
        id: UInt8,
        wrap: @escaping @Sendable (ByteBuffer, FrameKind, ByteBufferAllocator) -> ByteBuffer,
        encode: @escaping @Sendable (OutboundFrame, any Serializer, ByteBufferAllocator) throws(ProtocolError) -> ByteBuffer,
        unwrap: @escaping @Sendable (ByteBuffer) -> ByteBuffer
    ) {
        self.id = id
        self.wrap = wrap
        self.encode = encode
        self.unwrap = unwrap
    }

    /// The serialized message as it is, with no wrapping.
    package static let plain = MessageFraming(
        id: 0,
        wrap: { serialized, _, _ in serialized },
        encode: { frame, serializer, allocator throws(ProtocolError) in
            var buffer = allocator.buffer(capacity: 256)
            _ = try serializer.encodeServerFrame(frame, into: &buffer)
            return buffer
        },
        unwrap: { $0 }
    )
}
