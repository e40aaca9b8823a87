import NIOCore

/// The V2 serializer (`vsn=2.0.0`, phoenix.js's default): text frames are
/// JSON arrays `[join_ref, ref, topic, event, payload]`; binary payloads
/// travel in ``V2BinaryFrame``s.
public struct V2Serializer: Serializer {
    public init() {}

    public var version: String { SerializerVersion.v2.rawValue }

    // MARK: Server side

    /// Decodes a client frame. A text frame must be an array of exactly five
    /// elements: refs string or `null`, topic and event non-empty strings
    /// within `limits`, any JSON payload (whether a `phx_join` payload is an
    /// object is for the socket to check). A binary frame must be a kind 0 push.
    public func decodeClientFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> Message {
        switch kind {
        case .text:
            let fields = try Self.decodeArray(data, limits: limits)
            return Message(joinRef: fields.joinRef, ref: fields.ref, topic: fields.topic, event: fields.event, payload: .json(fields.payload))
        case .binary:
            guard case .clientPush(let joinRef, let ref, let topic, let event, let payload) =
                try V2BinaryFrame.decode(data, direction: .clientToServer, limits: limits)
            else {
                preconditionFailure("V2BinaryFrame.decode(direction: .clientToServer) returns only client pushes")
            }
            return Message(joinRef: joinRef, ref: ref, topic: topic, event: event, payload: .binary(payload))
        }
    }

    /// Encodes what the server writes. JSON payloads go in a text frame;
    /// binary ones in a binary frame: a reply as kind 1, a message without
    /// refs as a kind 2 broadcast, any other message as a kind 0 push, whose
    /// layout has no `ref` (a server message's `ref` is dropped there).
    public func encodeServerFrame(_ frame: OutboundFrame, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind {
        switch frame {
        case .message(let message):
            switch message.payload {
            case .json(let payload):
                Self.writeArray(message, payload: payload, into: &buffer)
                return .text
            case .binary(let data):
                let binary: V2BinaryFrame =
                    if message.joinRef == nil && message.ref == nil {
                        .broadcast(topic: message.topic, event: message.event, data: data)
                    } else {
                        .serverPush(joinRef: message.joinRef, topic: message.topic, event: message.event, data: data)
                    }
                try binary.encode(into: &buffer)
                return .binary
            }
        case .reply(let reply):
            switch reply.response {
            case .json(let response):
                Self.writeArrayPrefix(joinRef: reply.joinRef, ref: reply.ref, topic: reply.topic, event: ChannelEvent.reply, into: &buffer)
                MessageFields.writeReplyPayload(status: reply.status, response: response, into: &buffer)
                buffer.writeInteger(UInt8(ascii: "]"))
                return .text
            case .binary(let data):
                try V2BinaryFrame.reply(joinRef: reply.joinRef, ref: reply.ref, topic: reply.topic, status: reply.status.rawValue, data: data)
                    .encode(into: &buffer)
                return .binary
            }
        }
    }

    public func encodeServerMessage(joinRef: String?, topic: String, event: String, encodedPayload payload: ByteBuffer, into buffer: inout ByteBuffer) {
        Self.writeArrayPrefix(joinRef: joinRef, ref: nil, topic: topic, event: event, into: &buffer)
        buffer.writeImmutableBuffer(payload)
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    // MARK: Client side

    /// Encodes what a client sends: a JSON array, or a kind 0 client push
    /// (with its `ref`) for a binary payload.
    public func encodeClientMessage(_ message: Message, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind {
        switch message.payload {
        case .json(let payload):
            Self.writeArray(message, payload: payload, into: &buffer)
            return .text
        case .binary(let data):
            try V2BinaryFrame.clientPush(joinRef: message.joinRef, ref: message.ref, topic: message.topic, event: message.event, data: data)
                .encode(into: &buffer)
            return .binary
        }
    }

    /// Decodes what the server sent. A `phx_reply` array, whose payload must
    /// be `{"status":…,"response":…}`, and a binary kind 1 come back as
    /// `.reply`; everything else as `.message`.
    public func decodeServerFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> OutboundFrame {
        switch kind {
        case .text:
            let fields = try Self.decodeArray(data, limits: limits)
            if fields.event == ChannelEvent.reply {
                return .reply(try MessageFields.reply(joinRef: fields.joinRef, ref: fields.ref, topic: fields.topic, payload: fields.payload))
            }
            return .message(Message(joinRef: fields.joinRef, ref: fields.ref, topic: fields.topic, event: fields.event, payload: .json(fields.payload)))
        case .binary:
            switch try V2BinaryFrame.decode(data, direction: .serverToClient, limits: limits) {
            case .serverPush(let joinRef, let topic, let event, let payload):
                return .message(Message(joinRef: joinRef, ref: nil, topic: topic, event: event, payload: .binary(payload)))
            case .reply(let joinRef, let ref, let topic, let status, let payload):
                return .reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: ReplyStatus(rawValue: status), response: .binary(payload)))
            case .broadcast(let topic, let event, let payload):
                return .message(Message(joinRef: nil, ref: nil, topic: topic, event: event, payload: .binary(payload)))
            case .clientPush:
                preconditionFailure("V2BinaryFrame.decode(direction: .serverToClient) never returns client pushes")
            }
        }
    }

    // MARK: Text frames

    /// `[join_ref, ref, topic, event, payload]`, checked.
    private static func decodeArray(
        _ data: ByteBuffer,
        limits: DecodingLimits
    ) throws(ProtocolError) -> (joinRef: String?, ref: String?, topic: String, event: String, payload: JSONValue) {
        // The common case without the intermediate array; anything else takes
        // the general path below, which gives the precise error.
        if let (joinRef, ref, topic, event, payload) = MessageFields.parseFiveElementEnvelope(data, limits: limits) {
            return (
                joinRef: try MessageFields.ref(joinRef, field: "join_ref"),
                ref: try MessageFields.ref(ref, field: "ref"),
                topic: try MessageFields.name(topic, field: "topic", limit: limits.maxTopicLength),
                event: try MessageFields.name(event, field: "event", limit: limits.maxEventLength),
                payload: payload
            )
        }
        guard case .array(let elements) = try MessageFields.parseEnvelope(data, limits: limits) else {
            throw .invalidShape("a V2 message must be a JSON array")
        }
        guard elements.count == 5 else {
            throw .invalidShape("a V2 message must have 5 elements [join_ref, ref, topic, event, payload], not \(elements.count)")
        }
        return (
            joinRef: try MessageFields.ref(elements[0], field: "join_ref"),
            ref: try MessageFields.ref(elements[1], field: "ref"),
            topic: try MessageFields.name(elements[2], field: "topic", limit: limits.maxTopicLength),
            event: try MessageFields.name(elements[3], field: "event", limit: limits.maxEventLength),
            payload: elements[4]
        )
    }

    /// Writes the array straight into `buffer`, with no intermediate `JSONValue` array.
    private static func writeArray(_ message: Message, payload: JSONValue, into buffer: inout ByteBuffer) {
        self.writeArrayPrefix(joinRef: message.joinRef, ref: message.ref, topic: message.topic, event: message.event, into: &buffer)
        JSONWriter.write(payload, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// `[join_ref,ref,"topic","event",` — everything before the payload.
    private static func writeArrayPrefix(joinRef: String?, ref: String?, topic: String, event: String, into buffer: inout ByteBuffer) {
        if joinRef == nil && ref == nil {
            buffer.writeStaticString("[null,null,")
        } else {
            buffer.writeInteger(UInt8(ascii: "["))
            JSONWriter.writeOptionalString(joinRef, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ","))
            JSONWriter.writeOptionalString(ref, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        JSONWriter.writeString(topic, into: &buffer)
        buffer.writeInteger(UInt8(ascii: ","))
        JSONWriter.writeString(event, into: &buffer)
        buffer.writeInteger(UInt8(ascii: ","))
    }
}
