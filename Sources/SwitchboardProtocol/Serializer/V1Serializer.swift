import NIOCore

/// The V1 serializer (`vsn=1.0.0`, or no `vsn`): each text frame is one
/// object `{"topic":…,"event":…,"payload":…,"ref":…,"join_ref":…}`.
///
/// V1 has no binary frames: a binary frame in is `.invalidBinaryFrame`, a
/// binary payload out is `.unencodable`.
public struct V1Serializer: Serializer {
    public init() {}

    public var version: String { SerializerVersion.v1.rawValue }

    // MARK: Server side

    /// Decodes a client object. `topic`, `event`, `payload` and `ref` must be
    /// present (as Phoenix requires); `join_ref` may be absent, meaning `null`.
    /// Other keys are ignored.
    public func decodeClientFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> Message {
        try Self.decodeObject(data, kind: kind, limits: limits).message
    }

    /// Encodes a message or reply as an object, keys in the order topic,
    /// event, payload, ref, join_ref. A reply's payload is
    /// `{"status":…,"response":…}`.
    public func encodeServerFrame(_ frame: OutboundFrame, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind {
        switch frame {
        case .message(let message):
            return try self.encodeClientMessage(message, into: &buffer)
        case .reply(let reply):
            guard case .json(let response) = reply.response else {
                throw .unencodable("V1 cannot carry a binary reply")
            }
            Self.writeObjectPrefix(topic: reply.topic, event: ChannelEvent.reply, into: &buffer)
            MessageFields.writeReplyPayload(status: reply.status, response: response, into: &buffer)
            Self.writeRefs(ref: reply.ref, joinRef: reply.joinRef, into: &buffer)
            return .text
        }
    }

    public func encodeServerMessage(joinRef: String?, topic: String, event: String, encodedPayload payload: ByteBuffer, into buffer: inout ByteBuffer) {
        Self.writeObjectPrefix(topic: topic, event: event, into: &buffer)
        buffer.writeImmutableBuffer(payload)
        Self.writeRefs(ref: nil, joinRef: joinRef, into: &buffer)
    }

    // MARK: Client side

    /// Encodes a message as an object, keys in the order topic, event,
    /// payload, ref, join_ref.
    public func encodeClientMessage(_ message: Message, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind {
        guard case .json(let payload) = message.payload else {
            throw .unencodable("V1 cannot carry a binary payload")
        }
        Self.writeObjectPrefix(topic: message.topic, event: message.event, into: &buffer)
        JSONWriter.write(payload, into: &buffer)
        Self.writeRefs(ref: message.ref, joinRef: message.joinRef, into: &buffer)
        return .text
    }

    /// Decodes a server object; `phx_reply` ones, whose payload must be
    /// `{"status":…,"response":…}`, come back as `.reply`.
    public func decodeServerFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> OutboundFrame {
        let (message, payload) = try Self.decodeObject(data, kind: kind, limits: limits)
        if message.event == ChannelEvent.reply {
            return .reply(try MessageFields.reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, payload: payload))
        }
        return .message(message)
    }

    // MARK: Objects

    private static func decodeObject(
        _ data: ByteBuffer,
        kind: FrameKind,
        limits: DecodingLimits
    ) throws(ProtocolError) -> (message: Message, payload: JSONValue) {
        guard kind == .text else {
            throw .invalidBinaryFrame("V1 has no binary frames")
        }
        guard case .object(let object) = try MessageFields.parseEnvelope(data, limits: limits) else {
            throw .invalidShape("a V1 message must be a JSON object")
        }
        guard let topic = object["topic"] else { throw .invalidShape("missing \"topic\"") }
        guard let event = object["event"] else { throw .invalidShape("missing \"event\"") }
        guard let payload = object["payload"] else { throw .invalidShape("missing \"payload\"") }
        guard let ref = object["ref"] else { throw .invalidShape("missing \"ref\"") }
        let message = Message(
            joinRef: try MessageFields.ref(object["join_ref"] ?? .null, field: "join_ref"),
            ref: try MessageFields.ref(ref, field: "ref"),
            topic: try MessageFields.name(topic, field: "topic", limit: limits.maxTopicLength),
            event: try MessageFields.name(event, field: "event", limit: limits.maxEventLength),
            payload: .json(payload)
        )
        return (message, payload)
    }

    /// `,"ref":…,"join_ref":…}` — the end of every object.
    /// `{"topic":…,"event":…,"payload":` — everything before the payload.
    private static func writeObjectPrefix(topic: String, event: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"topic\":")
        JSONWriter.writeString(topic, into: &buffer)
        buffer.writeStaticString(",\"event\":")
        JSONWriter.writeString(event, into: &buffer)
        buffer.writeStaticString(",\"payload\":")
    }

    private static func writeRefs(ref: String?, joinRef: String?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(",\"ref\":")
        JSONWriter.writeOptionalString(ref, into: &buffer)
        buffer.writeStaticString(",\"join_ref\":")
        JSONWriter.writeOptionalString(joinRef, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
