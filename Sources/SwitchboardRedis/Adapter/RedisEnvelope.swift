import NIOCore
import Switchboard

/// What a node publishes to Redis: a broadcast, a node-direct message or a
/// probe, with who sent it and, for messages, the client frame already
/// encoded by the sender, so receivers write it without encoding again.
///
/// Version 1 layout (integers big-endian):
///
/// ```
/// "SB" u8 version=1  u8 kind  u64 instance  u64 sequence
/// u8 payload-kind (0 JSON, 1 binary, 2 inside the frame)
/// u16 node-length node  u16 topic-length topic  u16 event-length event
/// u32 payload-length payload  u32 frame-length frame (0: none)
/// ```
///
/// When the frame is there, the payload is not repeated (kind 2): the
/// receiver reads it from the frame, which it decodes anyway to check it —
/// so the sender encodes nothing twice, and a frame is only written to
/// clients once it has been parsed as the V2 broadcast it claims to be.
/// Every length is checked against what is left and the limits first.
struct RedisEnvelope: Sendable {
    enum Kind: UInt8, Sendable {
        /// A broadcast to a topic, for every node.
        case broadcast = 1
        /// A broadcast to a topic, for one node.
        case direct = 2
        /// A node's check of its own subscriber connection.
        case probe = 3
    }

    /// Where the payload is.
    enum PayloadKind: UInt8, Sendable {
        case json = 0
        case binary = 1
        /// Only in the frame.
        case inFrame = 2
    }

    static let magic: (UInt8, UInt8) = (UInt8(ascii: "S"), UInt8(ascii: "B"))
    static let version: UInt8 = 1

    var kind: Kind
    var originNode: String
    /// Random per process: tells two processes with the same node name apart.
    var instance: UInt64
    /// The probe's number; 0 for messages.
    var sequence: UInt64
    var topic: String
    var event: String
    var payload: Payload
    var frame: ByteBuffer?

    init(kind: Kind, originNode: String, instance: UInt64, sequence: UInt64 = 0, topic: String = "", event: String = "", payload: Payload = .empty, frame: ByteBuffer? = nil) {
        self.kind = kind
        self.originNode = originNode
        self.instance = instance
        self.sequence = sequence
        self.topic = topic
        self.event = event
        self.payload = payload
        self.frame = frame
    }

    init(kind: Kind, message: PubSubMessage, instance: UInt64) {
        self.init(
            kind: kind, originNode: message.originNode, instance: instance,
            topic: message.topic, event: message.event, payload: message.payload, frame: message.frame
        )
    }

    /// The message to deliver locally.
    var message: PubSubMessage {
        PubSubMessage(topic: topic, event: event, payload: payload, originNode: originNode, frame: frame)
    }

    // MARK: - Encoding

    /// Lends the name of `channel` and the encoded envelope to `body`, by way
    /// of a buffer: the general path (probes, messages without a frame).
    func withEncoded<R>(channel: RedisChannelName, _ body: (_ channel: UnsafeRawBufferPointer, _ envelope: UnsafeRawBufferPointer) -> R) -> R {
        var buffer = ByteBufferAllocator().buffer(capacity: channel.byteCount + estimatedSize)
        channel.write(into: &buffer)
        let channelBytes = buffer.readSlice(length: buffer.readableBytes)!
        encode(into: &buffer)
        return channelBytes.withUnsafeReadableBytes { channelBytes in
            buffer.withUnsafeReadableBytes { body(channelBytes, $0) }
        }
    }

    /// The publishing hot path: lends the name of `channel` and the envelope
    /// of `message` to `body`. With a frame (every broadcast the core makes
    /// has one) both are written straight from the message into one
    /// temporary allocation, on the stack when small: nothing is allocated
    /// or copied field by field.
    static func withEncoded<R>(
        _ kind: Kind, _ message: PubSubMessage, instance: UInt64, channel: RedisChannelName,
        _ body: (_ channel: UnsafeRawBufferPointer, _ envelope: UnsafeRawBufferPointer) -> R
    ) -> R {
        guard let frame = message.frame else {
            return RedisEnvelope(kind: kind, message: message, instance: instance).withEncoded(channel: channel, body)
        }
        let envelopeSize = sizeWithFrame(node: message.originNode, topic: message.topic, event: message.event, frame: frame)
        return withUnsafeTemporaryAllocation(byteCount: channel.byteCount + envelopeSize, alignment: 1) { raw in
            var cursor = RawWriter(raw)
            channel.write(into: &cursor)
            let channelEnd = cursor.offset
            writeWithFrame(
                kind: kind, instance: instance, sequence: 0,
                node: message.originNode, topic: message.topic, event: message.event, frame: frame, into: &cursor
            )
            let bytes = UnsafeRawBufferPointer(raw)
            return body(UnsafeRawBufferPointer(rebasing: bytes[..<channelEnd]), UnsafeRawBufferPointer(rebasing: bytes[channelEnd..<cursor.offset]))
        }
    }

    /// Appends the envelope to `buffer`.
    func encode(into buffer: inout ByteBuffer) {
        if let frame {
            encodeWithFrame(frame, into: &buffer)
            return
        }
        writeHeader(payloadKind: payload.isBinary ? .binary : .json, into: &buffer)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        switch payload {
        case .json(let json): json.encode(into: &buffer)
        case .binary(let bytes): buffer.writeImmutableBuffer(bytes)
        }
        buffer.setInteger(UInt32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
        buffer.writeInteger(UInt32(0))
    }

    /// With a frame: the whole envelope in one write, no field-by-field bounds checks.
    private func encodeWithFrame(_ frame: ByteBuffer, into buffer: inout ByteBuffer) {
        let size = Self.sizeWithFrame(node: originNode, topic: topic, event: event, frame: frame)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var cursor = RawWriter(raw)
            Self.writeWithFrame(
                kind: kind, instance: instance, sequence: sequence,
                node: originNode, topic: topic, event: event, frame: frame, into: &cursor
            )
            return cursor.offset
        }
    }

    private static func sizeWithFrame(node: String, topic: String, event: String, frame: ByteBuffer) -> Int {
        21 + 6 + node.utf8.count + topic.utf8.count + event.utf8.count + 8 + frame.readableBytes
    }

    private static func writeWithFrame(
        kind: Kind, instance: UInt64, sequence: UInt64,
        node: String, topic: String, event: String, frame: ByteBuffer, into cursor: inout RawWriter
    ) {
        cursor.put(magic.0)
        cursor.put(magic.1)
        cursor.put(version)
        cursor.put(kind.rawValue)
        cursor.put(instance)
        cursor.put(sequence)
        cursor.put(PayloadKind.inFrame.rawValue)
        cursor.putShort(node)
        cursor.putShort(topic)
        cursor.putShort(event)
        cursor.put(UInt32(0))
        cursor.put(UInt32(frame.readableBytes))
        frame.withUnsafeReadableBytes { cursor.put($0) }
    }

    private func writeHeader(payloadKind: PayloadKind, into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic.0)
        buffer.writeInteger(Self.magic.1)
        buffer.writeInteger(Self.version)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(instance)
        buffer.writeInteger(sequence)
        buffer.writeInteger(payloadKind.rawValue)
        Self.writeShort(originNode, into: &buffer)
        Self.writeShort(topic, into: &buffer)
        Self.writeShort(event, into: &buffer)
    }

    /// A capacity that fits the envelope without growing, for most payloads.
    var estimatedSize: Int {
        let payloadSize: Int
        switch (payload, frame) {
        case (_, .some(let frame)): payloadSize = frame.readableBytes
        case (.json, nil): payloadSize = 128
        case (.binary(let bytes), nil): payloadSize = bytes.readableBytes
        }
        return 40 + originNode.utf8.count + topic.utf8.count + event.utf8.count + payloadSize
    }

    private static func writeShort(_ string: String, into buffer: inout ByteBuffer) {
        let count = string.utf8.count
        precondition(count <= Int(UInt16.max), "envelope field of \(count) bytes")
        buffer.writeInteger(UInt16(count))
        buffer.writeString(string)
    }

    // MARK: - Decoding

    /// Reads an envelope, checking everything.
    init(decoding bytes: ByteBuffer, limits: DecodingLimits) throws(RedisEnvelopeError) {
        var buffer = bytes
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self),
              (first, second) == Self.magic
        else { throw .notAnEnvelope }
        guard let version = buffer.readInteger(as: UInt8.self) else { throw .truncated("version") }
        guard version == Self.version else { throw .unknownVersion(version) }
        guard let rawKind = buffer.readInteger(as: UInt8.self) else { throw .truncated("kind") }
        guard let kind = Kind(rawValue: rawKind) else { throw .invalid("unknown kind \(rawKind)") }
        guard let instance = buffer.readInteger(as: UInt64.self) else { throw .truncated("instance") }
        guard let sequence = buffer.readInteger(as: UInt64.self) else { throw .truncated("sequence") }
        guard let rawPayloadKind = buffer.readInteger(as: UInt8.self) else { throw .truncated("payload kind") }
        guard let payloadKind = PayloadKind(rawValue: rawPayloadKind) else { throw .invalid("unknown payload kind \(rawPayloadKind)") }
        let node = try Self.readShort(&buffer, field: "node", limit: 255)
        let topic = try Self.readShort(&buffer, field: "topic", limit: limits.maxTopicLength)
        let event = try Self.readShort(&buffer, field: "event", limit: limits.maxEventLength)
        let payloadBytes = try Self.readLong(&buffer, field: "payload")
        let frameBytes = try Self.readLong(&buffer, field: "frame")
        guard buffer.readableBytes == 0 else { throw .invalid("\(buffer.readableBytes) bytes after the frame") }

        let frame = frameBytes.readableBytes > 0 ? frameBytes : nil
        let payload: Payload
        switch payloadKind {
        case .binary:
            payload = .binary(payloadBytes)
        case .json:
            do {
                payload = .json(try JSONValue.parse(payloadBytes, maxDepth: limits.maxJSONDepth))
            } catch {
                throw .invalid("payload: \(error)")
            }
        case .inFrame:
            guard let frame else { throw .invalid("the payload is said to be in the frame, and there is no frame") }
            payload = try Self.payload(inFrame: frame, topic: topic, event: event, limits: limits)
        }
        if payloadKind != .inFrame, let frame {
            // A frame next to a separate payload is still only written if it parses.
            _ = try Self.payload(inFrame: frame, topic: topic, event: event, limits: limits)
        }
        if kind != .probe, topic.isEmpty || event.isEmpty {
            throw .invalid("a message without a topic or an event")
        }
        self.init(
            kind: kind, originNode: node, instance: instance, sequence: sequence,
            topic: topic, event: event, payload: payload, frame: frame
        )
    }

    private static func readShort(_ buffer: inout ByteBuffer, field: String, limit: Int) throws(RedisEnvelopeError) -> String {
        guard let length = buffer.readInteger(as: UInt16.self) else { throw .truncated(field) }
        guard Int(length) <= limit else { throw .invalid("\(field) of \(length) bytes, over the limit of \(limit)") }
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw .truncated(field) }
        guard let string = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw .invalid("\(field) is not UTF-8")
        }
        return string
    }

    private static func readLong(_ buffer: inout ByteBuffer, field: String) throws(RedisEnvelopeError) -> ByteBuffer {
        guard let length = buffer.readInteger(as: UInt32.self) else { throw .truncated(field) }
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw .truncated(field) }
        return bytes
    }

    /// The payload of `frame`: a complete, unfragmented, unmasked server text
    /// or binary frame, whose header length matches its size, holding a V2
    /// broadcast of `topic` and `event`.
    private static func payload(inFrame frame: ByteBuffer, topic: String, event: String, limits: DecodingLimits) throws(RedisEnvelopeError) -> Payload {
        guard let opcodeByte = frame.getInteger(at: frame.readerIndex, as: UInt8.self),
              let lengthByte = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self)
        else { throw .invalid("frame header truncated") }
        let kind: FrameKind
        switch opcodeByte {
        case 0x81: kind = .text
        case 0x82: kind = .binary
        default: throw .invalid("frame is not a final text or binary frame")
        }
        guard lengthByte & 0x80 == 0 else { throw .invalid("frame is masked") }
        let headerLength: Int
        let payloadLength: Int
        switch lengthByte & 0x7F {
        case 126:
            guard let length = frame.getInteger(at: frame.readerIndex + 2, as: UInt16.self) else { throw .invalid("frame header truncated") }
            (headerLength, payloadLength) = (4, Int(length))
        case 127:
            guard let length = frame.getInteger(at: frame.readerIndex + 2, as: UInt64.self), length <= UInt64(Int32.max) else {
                throw .invalid("frame header truncated or length out of range")
            }
            (headerLength, payloadLength) = (10, Int(length))
        case let length:
            (headerLength, payloadLength) = (2, Int(length))
        }
        guard headerLength + payloadLength == frame.readableBytes else {
            throw .invalid("frame header says \(payloadLength) bytes, \(frame.readableBytes - headerLength) follow")
        }
        let body = frame.getSlice(at: frame.readerIndex + headerLength, length: payloadLength)!
        let message: Message
        do {
            guard case .message(let decoded) = try V2Serializer().decodeServerFrame(body, kind: kind, limits: limits) else {
                throw RedisEnvelopeError.invalid("frame is a reply, not a broadcast")
            }
            message = decoded
        } catch let error as RedisEnvelopeError {
            throw error
        } catch {
            throw .invalid("frame: \(error)")
        }
        guard message.joinRef == nil, message.ref == nil, message.topic == topic, message.event == event else {
            throw .invalid("frame is not a broadcast of \(topic) \(event)")
        }
        return message.payload
    }
}

extension Payload {
    fileprivate var isBinary: Bool {
        if case .binary = self { return true }
        return false
    }
}
