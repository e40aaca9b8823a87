import NIOCore

/// A V2 binary frame: the carrier of binary payloads. One kind byte, then
/// one unsigned length byte per field, then the fields, then the payload
/// bytes to the end of the frame.
///
/// The same kind byte `0` has two layouts, told apart by direction: a
/// client's push carries a `ref`, the server's does not.
///
/// Surprising but inherited from Phoenix: the layout cannot say `null`, so a
/// `nil` ref is written as an empty field and an empty field reads back as `nil`.
enum V2BinaryFrame: Hashable {
    /// Kind 0, client → server:
    /// `0, len(join_ref), len(ref), len(topic), len(event), join_ref, ref, topic, event, data`.
    case clientPush(joinRef: String?, ref: String?, topic: String, event: String, data: ByteBuffer)
    /// Kind 0, server → client: `0, len(join_ref), len(topic), len(event), join_ref, topic, event, data`.
    case serverPush(joinRef: String?, topic: String, event: String, data: ByteBuffer)
    /// Kind 1, server → client:
    /// `1, len(join_ref), len(ref), len(topic), len(status), join_ref, ref, topic, status, data`.
    case reply(joinRef: String?, ref: String?, topic: String, status: String, data: ByteBuffer)
    /// Kind 2, server → client: `2, len(topic), len(event), topic, event, data`.
    case broadcast(topic: String, event: String, data: ByteBuffer)

    /// Which side wrote the frame; it decides the layout of kind 0.
    enum Direction {
        case clientToServer
        case serverToClient
    }

    /// The kind byte.
    enum Kind: UInt8 {
        case push = 0
        case reply = 1
        case broadcast = 2
    }

    /// The longest field a one-byte length can describe.
    static let maxFieldLength = 255

    // MARK: Decoding

    /// Decodes the readable bytes of `buffer`; `data` is a slice of it, not a copy.
    /// Topics and events must be non-empty and within `limits`; every field must be UTF-8.
    static func decode(_ buffer: ByteBuffer, direction: Direction, limits: DecodingLimits) throws(ProtocolError) -> V2BinaryFrame {
        var buffer = buffer
        guard let kindByte = buffer.readInteger(as: UInt8.self) else {
            throw .invalidBinaryFrame("empty frame")
        }
        guard let kind = Kind(rawValue: kindByte) else {
            throw .invalidBinaryFrame("unknown kind \(kindByte)")
        }
        switch (kind, direction) {
        case (.push, .clientToServer):
            let fields = try self.readFields(4, from: &buffer)
            return .clientPush(
                joinRef: try self.ref(fields[0], field: "join_ref"),
                ref: try self.ref(fields[1], field: "ref"),
                topic: try self.name(fields[2], field: "topic", limit: limits.maxTopicLength),
                event: try self.name(fields[3], field: "event", limit: limits.maxEventLength),
                data: buffer
            )
        case (.push, .serverToClient):
            let fields = try self.readFields(3, from: &buffer)
            return .serverPush(
                joinRef: try self.ref(fields[0], field: "join_ref"),
                topic: try self.name(fields[1], field: "topic", limit: limits.maxTopicLength),
                event: try self.name(fields[2], field: "event", limit: limits.maxEventLength),
                data: buffer
            )
        case (.reply, .serverToClient):
            let fields = try self.readFields(4, from: &buffer)
            return .reply(
                joinRef: try self.ref(fields[0], field: "join_ref"),
                ref: try self.ref(fields[1], field: "ref"),
                topic: try self.name(fields[2], field: "topic", limit: limits.maxTopicLength),
                status: try self.string(fields[3], field: "status"),
                data: buffer
            )
        case (.broadcast, .serverToClient):
            let fields = try self.readFields(2, from: &buffer)
            return .broadcast(
                topic: try self.name(fields[0], field: "topic", limit: limits.maxTopicLength),
                event: try self.name(fields[1], field: "event", limit: limits.maxEventLength),
                data: buffer
            )
        case (.reply, .clientToServer), (.broadcast, .clientToServer):
            throw .invalidBinaryFrame("kind \(kindByte) is only sent by servers")
        }
    }

    /// Reads `count` length bytes, then that many fields; what is left in
    /// `buffer` is the payload.
    private static func readFields(_ count: Int, from buffer: inout ByteBuffer) throws(ProtocolError) -> [ByteBuffer] {
        guard let lengths = buffer.readBytes(length: count) else {
            throw .invalidBinaryFrame("truncated header: \(count) length bytes expected, \(buffer.readableBytes) present")
        }
        let needed = lengths.reduce(0) { $0 + Int($1) }
        guard needed <= buffer.readableBytes else {
            throw .invalidBinaryFrame("field lengths need \(needed) bytes, \(buffer.readableBytes) present")
        }
        // Cannot fail: the lengths were checked against the readable bytes.
        return lengths.map { buffer.readSlice(length: Int($0))! }
    }

    private static func string(_ field: ByteBuffer, field name: String) throws(ProtocolError) -> String {
        guard let string = String(validating: field.readableBytesView, as: UTF8.self) else {
            throw .invalidBinaryFrame("\(name) is not valid UTF-8")
        }
        return string
    }

    private static func ref(_ field: ByteBuffer, field name: String) throws(ProtocolError) -> String? {
        field.readableBytes == 0 ? nil : try self.string(field, field: name)
    }

    private static func name(_ field: ByteBuffer, field name: String, limit: Int) throws(ProtocolError) -> String {
        let string = try self.string(field, field: name)
        try MessageFields.checkName(string, field: name, limit: limit)
        return string
    }

    // MARK: Encoding

    /// Appends the frame to `buffer`. Nothing is written when a field is
    /// longer than 255 bytes (`.unencodable`).
    func encode(into buffer: inout ByteBuffer) throws(ProtocolError) {
        switch self {
        case .clientPush(let joinRef, let ref, let topic, let event, let data):
            try Self.write(kind: .push, fields: [("join_ref", joinRef ?? ""), ("ref", ref ?? ""), ("topic", topic), ("event", event)], data: data, into: &buffer)
        case .serverPush(let joinRef, let topic, let event, let data):
            try Self.write(kind: .push, fields: [("join_ref", joinRef ?? ""), ("topic", topic), ("event", event)], data: data, into: &buffer)
        case .reply(let joinRef, let ref, let topic, let status, let data):
            try Self.write(kind: .reply, fields: [("join_ref", joinRef ?? ""), ("ref", ref ?? ""), ("topic", topic), ("status", status)], data: data, into: &buffer)
        case .broadcast(let topic, let event, let data):
            try Self.write(kind: .broadcast, fields: [("topic", topic), ("event", event)], data: data, into: &buffer)
        }
    }

    private static func write(
        kind: Kind,
        fields: [(name: String, value: String)],
        data: ByteBuffer,
        into buffer: inout ByteBuffer
    ) throws(ProtocolError) {
        var total = 1 + data.readableBytes
        for field in fields {
            let length = field.value.utf8.count
            guard length <= self.maxFieldLength else {
                throw .unencodable("\(field.name) is \(length) bytes; a binary frame field holds at most \(self.maxFieldLength)")
            }
            total += 1 + length
        }
        buffer.reserveCapacity(minimumWritableBytes: total)
        buffer.writeInteger(kind.rawValue)
        for field in fields {
            buffer.writeInteger(UInt8(field.value.utf8.count))
        }
        for field in fields {
            buffer.writeString(field.value)
        }
        var data = data
        buffer.writeBuffer(&data)
    }
}
