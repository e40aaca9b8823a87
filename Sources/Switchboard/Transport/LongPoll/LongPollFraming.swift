import FoundationEssentials
import NIOCore

extension MessageFraming {
    /// A message as an element of a long-poll answer's `messages` list: the
    /// serialized text as a JSON string literal; a binary message (V2
    /// binary frames) as its bytes in standard base64, in a JSON string, as
    /// clients send theirs (Phoenix's long-poll carries no raw binary). An
    /// answer joins the queued elements with commas as they are.
    package static let longPoll = MessageFraming(
        id: 2,
        wrap: { serialized, kind, allocator in
            LongPollFraming.element(serialized, kind: kind, allocator: allocator)
        },
        encode: { frame, serializer, allocator throws(ProtocolError) in
            var serialized = allocator.buffer(capacity: 256)
            let kind = try serializer.encodeServerFrame(frame, into: &serialized)
            return LongPollFraming.element(serialized, kind: kind, allocator: allocator)
        },
        unwrap: { element in
            LongPollFraming.serialized(element) ?? element
        }
    )
}

/// The long-poll framing's encoding of one message.
enum LongPollFraming {
    static func element(_ serialized: ByteBuffer, kind: FrameKind, allocator: ByteBufferAllocator) -> ByteBuffer {
        var element = allocator.buffer(capacity: serialized.readableBytes + 16)
        switch kind {
        case .text:
            JSONValue.string(String(buffer: serialized)).encode(into: &element)
        case .binary:
            element.writeStaticString("\"")
            element.writeString(Data(serialized.readableBytesView).base64EncodedString())
            element.writeStaticString("\"")
        }
        return element
    }

    /// The serialized message inside an element: a text message's text
    /// (which starts with `[` or `{`), or a binary message's decoded bytes;
    /// `nil` when `element` is neither. Off the fast path: only tests unwrap
    /// a long-poll element.
    static func serialized(_ element: ByteBuffer) -> ByteBuffer? {
        guard let text = (try? JSONValue.parse(element, maxDepth: 1))?.stringValue else { return nil }
        if text.hasPrefix("[") || text.hasPrefix("{") { return ByteBuffer(string: text) }
        return Data(base64Encoded: text).map { ByteBuffer(bytes: $0) }
    }
}
