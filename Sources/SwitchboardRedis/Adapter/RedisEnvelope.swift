import NIOCore
import Switchboard

/// What a node publishes to Redis: a broadcast, a node-direct message or a
/// probe, with who sent it and, for messages, the V2 message already
/// serialized by the sender, so receivers deliver it without encoding again.
///
/// Layout (integers big-endian), the same in both versions:
///
/// ```
/// "SB" u8 version  u8 kind  u64 instance  u64 sequence
/// u8 payload-kind
/// u16 node-length node  u16 topic-length topic  u16 event-length event
/// u32 payload-length payload  u32 message-length message (0: none)
/// ```
///
/// - Version 1: the last field is the V2 message *as a WebSocket frame*
///   (server frame, header included). Payload kinds: 0 JSON, 1 binary,
///   2 only inside the frame.
/// - Version 2: the last field is the serialized V2 message alone
///   (``PubSubMessage/encoded``), no transport framing. Payload kinds:
///   0 JSON, 1 binary, 3 only inside the message as V2 text, 4 only inside
///   the message as a V2 binary broadcast.
///
/// When the message is there, the payload is not repeated: the receiver
/// reads it from the message, which it decodes anyway to check it — so the
/// sender encodes nothing twice, and a message is only written to clients
/// once it has been parsed as the V2 broadcast of the envelope's topic and
/// event. Every length is checked against what is left and the limits first;
/// anything malformed is dropped and counted.
///
/// Compatibility: a node reads every version it ever wrote; it writes the
/// lowest version its live peers read (``RedisAdapter/peersRead(wireVersion:)``,
/// from the `wire_version` of their ``NodeReport``s: absent means 1), and
/// version 1 until it has heard them; a new version is added only together
/// with a report field saying who reads it.
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
        /// Version 1: only in the WebSocket frame.
        case inFrame = 2
        /// Version 2: only in the message, V2 text.
        case inTextMessage = 3
        /// Version 2: only in the message, a V2 binary broadcast.
        case inBinaryMessage = 4
    }

    static let magic: (UInt8, UInt8) = (UInt8(ascii: "S"), UInt8(ascii: "B"))
    /// The oldest version, which every node reads: written until a node
    /// knows that all its peers read a newer one.
    static let oldestVersion: UInt8 = 1
    /// The newest version this node reads (and may write).
    static let latestVersion: UInt8 = 2

    /// The version written, or read.
    var version: UInt8
    var kind: Kind
    var originNode: String
    /// Random per process: tells two processes with the same node name apart.
    var instance: UInt64
    /// The probe's number; 0 for messages.
    var sequence: UInt64
    var topic: String
    var event: String
    var payload: Payload
    /// The serialized V2 message (``PubSubMessage/encoded``), without any
    /// WebSocket header whichever version carries it.
    var encoded: ByteBuffer?

    init(
        version: UInt8 = RedisEnvelope.oldestVersion, kind: Kind, originNode: String, instance: UInt64, sequence: UInt64 = 0,
        topic: String = "", event: String = "", payload: Payload = .empty, encoded: ByteBuffer? = nil
    ) {
        self.version = version
        self.kind = kind
        self.originNode = originNode
        self.instance = instance
        self.sequence = sequence
        self.topic = topic
        self.event = event
        self.payload = payload
        self.encoded = encoded
    }

    init(version: UInt8, kind: Kind, message: PubSubMessage, instance: UInt64) {
        self.init(
            version: version, kind: kind, originNode: message.originNode, instance: instance,
            topic: message.topic, event: message.event, payload: message.payload, encoded: message.encoded
        )
    }

    /// The message to deliver locally.
    var message: PubSubMessage {
        PubSubMessage(topic: topic, event: event, payload: payload, originNode: originNode, encoded: encoded)
    }

    /// Text or binary, as the V2 serializer encodes ``payload``.
    private var encodedKind: FrameKind {
        payload.isBinary ? .binary : .text
    }

    // MARK: - Encoding

    /// Lends the name of `channel` and the encoded envelope to `body`, by way
    /// of a buffer: the general path (probes, messages without a serialized message).
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
    /// (in `version`) of `message` to `body`. With a serialized message
    /// (every broadcast the core makes has one) both are written straight
    /// from the message into one temporary allocation, on the stack when
    /// small: nothing is allocated or copied field by field.
    static func withEncoded<R>(
        version: UInt8, _ kind: Kind, _ message: PubSubMessage, instance: UInt64, channel: RedisChannelName,
        _ body: (_ channel: UnsafeRawBufferPointer, _ envelope: UnsafeRawBufferPointer) -> R
    ) -> R {
        guard let encoded = message.encoded else {
            return RedisEnvelope(version: version, kind: kind, message: message, instance: instance).withEncoded(channel: channel, body)
        }
        let envelopeSize = sizeWithMessage(version: version, node: message.originNode, topic: message.topic, event: message.event, encoded: encoded)
        return withUnsafeTemporaryAllocation(byteCount: channel.byteCount + envelopeSize, alignment: 1) { raw in
            var cursor = RawWriter(raw)
            channel.write(into: &cursor)
            let channelEnd = cursor.offset
            writeWithMessage(
                version: version, kind: kind, instance: instance, sequence: 0,
                node: message.originNode, topic: message.topic, event: message.event,
                encoded: encoded, encodedKind: message.encodedKind, into: &cursor
            )
            let bytes = UnsafeRawBufferPointer(raw)
            return body(UnsafeRawBufferPointer(rebasing: bytes[..<channelEnd]), UnsafeRawBufferPointer(rebasing: bytes[channelEnd..<cursor.offset]))
        }
    }

    /// Appends the envelope to `buffer`.
    func encode(into buffer: inout ByteBuffer) {
        if let encoded {
            encodeWithMessage(encoded, into: &buffer)
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

    /// With a serialized message: the whole envelope in one write, no
    /// field-by-field bounds checks.
    private func encodeWithMessage(_ encoded: ByteBuffer, into buffer: inout ByteBuffer) {
        let size = Self.sizeWithMessage(version: version, node: originNode, topic: topic, event: event, encoded: encoded)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var cursor = RawWriter(raw)
            Self.writeWithMessage(
                version: version, kind: kind, instance: instance, sequence: sequence,
                node: originNode, topic: topic, event: event, encoded: encoded, encodedKind: encodedKind, into: &cursor
            )
            return cursor.offset
        }
    }

    private static func sizeWithMessage(version: UInt8, node: String, topic: String, event: String, encoded: ByteBuffer) -> Int {
        let header = version == 1 ? WebSocketFraming.headerLength(payloadLength: encoded.readableBytes) : 0
        return 21 + 6 + node.utf8.count + topic.utf8.count + event.utf8.count + 8 + header + encoded.readableBytes
    }

    /// Writes the envelope of a serialized message; version 1 puts the
    /// message in a WebSocket frame, as old nodes expect it.
    private static func writeWithMessage(
        version: UInt8, kind: Kind, instance: UInt64, sequence: UInt64,
        node: String, topic: String, event: String, encoded: ByteBuffer, encodedKind: FrameKind, into cursor: inout RawWriter
    ) {
        let length = encoded.readableBytes
        cursor.put(magic.0)
        cursor.put(magic.1)
        cursor.put(version)
        cursor.put(kind.rawValue)
        cursor.put(instance)
        cursor.put(sequence)
        if version == 1 {
            cursor.put(PayloadKind.inFrame.rawValue)
        } else {
            cursor.put(encodedKind == .text ? PayloadKind.inTextMessage.rawValue : PayloadKind.inBinaryMessage.rawValue)
        }
        cursor.putShort(node)
        cursor.putShort(topic)
        cursor.putShort(event)
        cursor.put(UInt32(0))
        if version == 1 {
            // The frame as a version 1 node writes it to its clients.
            cursor.put(UInt32(WebSocketFraming.headerLength(payloadLength: length) + length))
            WebSocketFraming.withHeader(payloadLength: length, kind: encodedKind) { cursor.put($0) }
        } else {
            cursor.put(UInt32(length))
        }
        encoded.withUnsafeReadableBytes { cursor.put($0) }
    }

    private func writeHeader(payloadKind: PayloadKind, into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic.0)
        buffer.writeInteger(Self.magic.1)
        buffer.writeInteger(version)
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
        switch (payload, encoded) {
        case (_, .some(let encoded)): payloadSize = encoded.readableBytes + 10
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

    /// Reads an envelope of any version this node reads, checking everything.
    init(decoding bytes: ByteBuffer, limits: DecodingLimits) throws(RedisEnvelopeError) {
        var buffer = bytes
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self),
              (first, second) == Self.magic
        else { throw .notAnEnvelope }
        guard let version = buffer.readInteger(as: UInt8.self) else { throw .truncated("version") }
        guard (Self.oldestVersion...Self.latestVersion).contains(version) else { throw .unknownVersion(version) }
        guard let rawKind = buffer.readInteger(as: UInt8.self) else { throw .truncated("kind") }
        guard let kind = Kind(rawValue: rawKind) else { throw .invalid("unknown kind \(rawKind)") }
        guard let instance = buffer.readInteger(as: UInt64.self) else { throw .truncated("instance") }
        guard let sequence = buffer.readInteger(as: UInt64.self) else { throw .truncated("sequence") }
        guard let rawPayloadKind = buffer.readInteger(as: UInt8.self) else { throw .truncated("payload kind") }
        guard let payloadKind = PayloadKind(rawValue: rawPayloadKind) else { throw .invalid("unknown payload kind \(rawPayloadKind)") }
        switch (version, payloadKind) {
        case (_, .json), (_, .binary), (1, .inFrame), (2, .inTextMessage), (2, .inBinaryMessage): break
        default: throw .invalid("payload kind \(rawPayloadKind) in a version \(version) envelope")
        }
        let node = try Self.readShort(&buffer, field: "node", limit: 255)
        let topic = try Self.readShort(&buffer, field: "topic", limit: limits.maxTopicLength)
        let event = try Self.readShort(&buffer, field: "event", limit: limits.maxEventLength)
        let payloadBytes = try Self.readLong(&buffer, field: "payload")
        let lastField = try Self.readLong(&buffer, field: version == 1 ? "frame" : "message")
        guard buffer.readableBytes == 0 else { throw .invalid("\(buffer.readableBytes) bytes after the \(version == 1 ? "frame" : "message")") }

        let carried = lastField.readableBytes > 0 ? lastField : nil
        let payload: Payload
        var encoded: ByteBuffer?
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
            guard let carried else { throw .invalid("the payload is said to be in the frame, and there is no frame") }
            let broadcast = try Self.broadcast(inFrame: carried, topic: topic, event: event, limits: limits)
            encoded = broadcast.encoded
            payload = broadcast.payload
        case .inTextMessage, .inBinaryMessage:
            guard let carried else { throw .invalid("the payload is said to be in the message, and there is no message") }
            let frameKind: FrameKind = payloadKind == .inTextMessage ? .text : .binary
            payload = try Self.payload(inMessage: carried, kind: frameKind, topic: topic, event: event, limits: limits)
            encoded = carried
        }
        if payloadKind == .json || payloadKind == .binary, let carried {
            guard version == 1 else { throw .invalid("a message next to a separate payload") }
            // A frame next to a separate payload is still only written if it
            // parses, and if it is of the payload's kind.
            let broadcast = try Self.broadcast(inFrame: carried, topic: topic, event: event, limits: limits)
            guard broadcast.payload.isBinary == payload.isBinary else { throw .invalid("the frame and the payload are of different kinds") }
            encoded = broadcast.encoded
        }
        if kind != .probe, topic.isEmpty || event.isEmpty {
            throw .invalid("a message without a topic or an event")
        }
        self.init(
            version: version, kind: kind, originNode: node, instance: instance, sequence: sequence,
            topic: topic, event: event, payload: payload, encoded: encoded
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

    /// The serialized message and payload of `frame` (version 1): a
    /// complete, unfragmented, unmasked server text or binary frame, whose
    /// header length matches its size, holding a V2 broadcast of `topic` and `event`.
    private static func broadcast(inFrame frame: ByteBuffer, topic: String, event: String, limits: DecodingLimits) throws(RedisEnvelopeError) -> (encoded: ByteBuffer, payload: Payload) {
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
        return (body, try payload(inMessage: body, kind: kind, topic: topic, event: event, limits: limits))
    }

    /// The payload of `message`, a serialized V2 message of `kind`, once it
    /// has been parsed as a broadcast (no refs) of `topic` and `event`.
    private static func payload(inMessage body: ByteBuffer, kind: FrameKind, topic: String, event: String, limits: DecodingLimits) throws(RedisEnvelopeError) -> Payload {
        let message: Message
        do {
            guard case .message(let decoded) = try V2Serializer().decodeServerFrame(body, kind: kind, limits: limits) else {
                throw RedisEnvelopeError.invalid("the message is a reply, not a broadcast")
            }
            message = decoded
        } catch let error as RedisEnvelopeError {
            throw error
        } catch {
            throw .invalid("message: \(error)")
        }
        guard message.joinRef == nil, message.ref == nil, message.topic == topic, message.event == event else {
            throw .invalid("the message is not a broadcast of \(topic) \(event)")
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
