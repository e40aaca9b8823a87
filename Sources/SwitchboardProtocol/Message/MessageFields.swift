import NIOCore

/// Checks and conversions of message fields shared by the V1 and V2 serializers.
enum MessageFields {
    /// `join_ref` or `ref` in JSON: a string or `null`, nothing else (Phoenix
    /// clients always send refs as strings).
    static func ref(_ value: JSONValue, field: String) throws(ProtocolError) -> String? {
        switch value {
        case .null: return nil
        case .string(let string): return string
        default: throw .invalidShape("\(field) must be a string or null")
        }
    }

    /// A topic or event in JSON: a non-empty string of at most `limit` UTF-8 bytes.
    static func name(_ value: JSONValue, field: String, limit: Int) throws(ProtocolError) -> String {
        guard case .string(let string) = value else {
            throw .invalidShape("\(field) must be a string")
        }
        try self.checkName(string, field: field, limit: limit)
        return string
    }

    /// A topic or event must be non-empty and at most `limit` UTF-8 bytes.
    static func checkName(_ string: String, field: String, limit: Int) throws(ProtocolError) {
        let length = string.utf8.count
        guard length > 0 else { throw .invalidShape("\(field) must not be empty") }
        guard length <= limit else { throw .fieldTooLong(field: field, limit: limit) }
    }

    /// Parses a whole frame as JSON, with `limits.maxJSONDepth` counted from the
    /// payload: the envelope around it adds one level, which is allowed for
    /// and does not show in the error.
    static func parseEnvelope(_ data: ByteBuffer, limits: DecodingLimits) throws(ProtocolError) -> JSONValue {
        let payloadDepth = max(0, limits.maxJSONDepth)
        do {
            return try JSONValue.parse(data, maxDepth: payloadDepth + 1)
        } catch where error.isTooDeep {
            throw .tooDeep(limit: payloadDepth)
        }
    }

    /// ``parseEnvelope(_:limits:)`` for a well-formed five-element array,
    /// without building the array; `nil` for anything else (including any
    /// error, which ``parseEnvelope(_:limits:)`` then reports).
    static func parseFiveElementEnvelope(
        _ data: ByteBuffer, limits: DecodingLimits
    ) -> (JSONValue, JSONValue, JSONValue, JSONValue, JSONValue)? {
        let maxDepth = max(0, limits.maxJSONDepth) + 1
        return data.withUnsafeReadableBytes { raw in
            raw.withMemoryRebound(to: UInt8.self) { bytes in
                JSONParser.parseFiveElementArray(bytes, maxDepth: maxDepth)
            }
        }
    }

    /// A `phx_reply` message as a ``Reply``: its payload must be
    /// `{"status": string, "response": any}`.
    static func reply(joinRef: String?, ref: String?, topic: String, payload: JSONValue) throws(ProtocolError) -> Reply {
        guard case .object(let object) = payload,
            case .string(let status) = object["status"],
            let response = object["response"]
        else {
            throw .invalidShape("a phx_reply payload must be {\"status\": string, \"response\": …}")
        }
        return Reply(joinRef: joinRef, ref: ref, topic: topic, status: ReplyStatus(rawValue: status), response: .json(response))
    }

    /// Writes `{"status":…,"response":…}`, the JSON payload of a reply.
    static func writeReplyPayload(status: ReplyStatus, response: JSONValue, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"status\":")
        JSONWriter.writeString(status.rawValue, into: &buffer)
        buffer.writeStaticString(",\"response\":")
        JSONWriter.write(response, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
