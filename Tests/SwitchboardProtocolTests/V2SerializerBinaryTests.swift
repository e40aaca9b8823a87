import NIOCore
import Testing

@testable import SwitchboardProtocol

/// V2 binary frames, against hand-built byte arrays, in both directions.
@Suite("V2 serializer, binary frames")
struct V2SerializerBinaryTests {
    typealias Support = ProtocolTestSupport
    let serializer = V2Serializer()
    let data: [UInt8] = [0x00, 0xFF, 0x7B, 0x22, 0x0A]

    // MARK: Kind 0, client → server

    @Test func clientPush() throws {
        let message = Message(joinRef: "1", ref: "2", topic: "room:lobby", event: "upload", payload: .binary(Support.buffer(self.data)))
        let bytes = Support.frame([0, 1, 1, 10, 6], "1", "2", "room:lobby", "upload", .bytes(self.data))

        let encoded = try Support.encodeClient(self.serializer, message)
        #expect(encoded.kind == .binary)
        #expect(encoded.bytes == bytes)
        #expect(try self.serializer.decodeClientFrame(Support.buffer(bytes), kind: .binary, limits: .default) == message)
    }

    @Test func clientPushWithoutRefsAndData() throws {
        let message = Message(joinRef: nil, ref: nil, topic: "t", event: "e", payload: .binary(ByteBuffer()))
        let bytes = Support.frame([0, 0, 0, 1, 1], "t", "e")
        #expect(try Support.encodeClient(self.serializer, message).bytes == bytes)
        #expect(try self.serializer.decodeClientFrame(Support.buffer(bytes), kind: .binary, limits: .default) == message)
    }

    @Test func clientPushDataIsASliceOfTheFrame() throws {
        var frame = Support.buffer(Support.frame("junk", [0, 1, 1, 1, 1], "1", "2", "t", "e", .bytes(self.data)))
        frame.moveReaderIndex(forwardBy: 4)
        let message = try self.serializer.decodeClientFrame(frame, kind: .binary, limits: .default)
        guard case .binary(let payload) = message.payload else {
            Issue.record("expected a binary payload")
            return
        }
        #expect(Support.bytes(payload) == self.data)
        #expect(message.joinRef == "1" && message.ref == "2" && message.topic == "t" && message.event == "e")
    }

    // MARK: Kind 0, server → client

    @Test func serverPush() throws {
        let message = Message(joinRef: "12", ref: nil, topic: "room:lobby", event: "event", payload: .binary(Support.buffer(self.data)))
        let bytes = Support.frame([0, 2, 10, 5], "12", "room:lobby", "event", .bytes(self.data))

        let encoded = try Support.encodeServer(self.serializer, .message(message))
        #expect(encoded.kind == .binary)
        #expect(encoded.bytes == bytes)
        #expect(try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default) == .message(message))
    }

    @Test func serverPushHasNoRef() throws {
        // The server push layout has no ref field: a message with a ref but no join_ref is a push, the ref is dropped.
        let message = Message(joinRef: nil, ref: "3", topic: "t", event: "e", payload: .binary(Support.buffer(self.data)))
        let bytes = Support.frame([0, 0, 1, 1], "t", "e", .bytes(self.data))
        #expect(try Support.encodeServer(self.serializer, .message(message)).bytes == bytes)
        let decoded = try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default)
        #expect(decoded == .message(Message(joinRef: nil, ref: nil, topic: "t", event: "e", payload: .binary(Support.buffer(self.data)))))
    }

    // MARK: Kind 1, server → client

    @Test func reply() throws {
        let reply = Reply(joinRef: "1", ref: "2", topic: "room:lobby", status: .ok, response: .binary(Support.buffer(self.data)))
        let bytes = Support.frame([1, 1, 1, 10, 2], "1", "2", "room:lobby", "ok", .bytes(self.data))

        let encoded = try Support.encodeServer(self.serializer, .reply(reply))
        #expect(encoded.kind == .binary)
        #expect(encoded.bytes == bytes)
        #expect(try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default) == .reply(reply))
    }

    @Test func errorReplyWithoutJoinRef() throws {
        let reply = Reply(joinRef: nil, ref: "9", topic: "t", status: .error, response: .binary(ByteBuffer()))
        let bytes = Support.frame([1, 0, 1, 1, 5], "9", "t", "error")
        #expect(try Support.encodeServer(self.serializer, .reply(reply)).bytes == bytes)
        #expect(try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default) == .reply(reply))
    }

    // MARK: Kind 2, server → client

    @Test func broadcast() throws {
        let message = Message(joinRef: nil, ref: nil, topic: "room:lobby", event: "event", payload: .binary(Support.buffer(self.data)))
        let bytes = Support.frame([2, 10, 5], "room:lobby", "event", .bytes(self.data))

        let encoded = try Support.encodeServer(self.serializer, .message(message))
        #expect(encoded.kind == .binary)
        #expect(encoded.bytes == bytes)
        #expect(try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default) == .message(message))
    }

    @Test func nonASCIIFieldsCountBytes() throws {
        let message = Message(topic: "é", event: "€", payload: .binary(ByteBuffer()))
        let bytes: [UInt8] = [2, 2, 3, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]
        #expect(try Support.encodeServer(self.serializer, .message(message)).bytes == bytes)
        #expect(try self.serializer.decodeServerFrame(Support.buffer(bytes), kind: .binary, limits: .default) == .message(message))
    }

    // MARK: Encoding limits

    @Test func fieldsOver255BytesAreUnencodable() throws {
        let long = String(repeating: "a", count: 256)
        let max = String(repeating: "a", count: 255)
        let data = Payload.binary(ByteBuffer())

        var buffer = Support.buffer("kept")
        #expect(Support.caught { try self.serializer.encodeServerFrame(.message(Message(topic: long, event: "e", payload: data)), into: &buffer) } == .unencodable("topic is 256 bytes; a binary frame field holds at most 255"))
        #expect(Support.caught { try self.serializer.encodeServerFrame(.message(Message(joinRef: long, topic: "t", event: "e", payload: data)), into: &buffer) } == .unencodable("join_ref is 256 bytes; a binary frame field holds at most 255"))
        #expect(Support.caught { try self.serializer.encodeServerFrame(.reply(Reply(joinRef: nil, ref: "1", topic: "t", status: ReplyStatus(rawValue: long), response: data)), into: &buffer) } == .unencodable("status is 256 bytes; a binary frame field holds at most 255"))
        #expect(Support.caught { try self.serializer.encodeClientMessage(Message(ref: long, topic: "t", event: "e", payload: data), into: &buffer) } == .unencodable("ref is 256 bytes; a binary frame field holds at most 255"))
        #expect(Support.caught { try self.serializer.encodeClientMessage(Message(topic: "t", event: long, payload: data), into: &buffer) } == .unencodable("event is 256 bytes; a binary frame field holds at most 255"))
        // A failed encoding writes nothing.
        #expect(Support.bytes(buffer) == Array("kept".utf8))

        let encoded = try Support.encodeServer(self.serializer, .message(Message(topic: max, event: "e", payload: data)))
        #expect(encoded.bytes == [2, 255, 1] + Array(max.utf8) + Array("e".utf8))
    }

    // MARK: Malformed frames

    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var error: ProtocolError
        var testDescription: String { self.name }
    }

    static let malformedClientFrames: [Malformed] = [
        Malformed(name: "empty", bytes: [], error: .invalidBinaryFrame("empty frame")),
        Malformed(name: "unknown kind", bytes: Support.frame([3, 0, 0, 1, 1], "t", "e"), error: .invalidBinaryFrame("unknown kind 3")),
        Malformed(name: "kind 255", bytes: [255], error: .invalidBinaryFrame("unknown kind 255")),
        Malformed(name: "reply from a client", bytes: Support.frame([1, 0, 0, 1, 2], "t", "ok"), error: .invalidBinaryFrame("kind 1 is only sent by servers")),
        Malformed(name: "broadcast from a client", bytes: Support.frame([2, 1, 1], "t", "e"), error: .invalidBinaryFrame("kind 2 is only sent by servers")),
        Malformed(name: "truncated header", bytes: [0, 1, 1], error: .invalidBinaryFrame("truncated header: 4 length bytes expected, 2 present")),
        Malformed(name: "kind only", bytes: [0], error: .invalidBinaryFrame("truncated header: 4 length bytes expected, 0 present")),
        Malformed(name: "truncated fields", bytes: Support.frame([0, 1, 1, 10, 6], "1", "2", "room:lo"), error: .invalidBinaryFrame("field lengths need 18 bytes, 9 present")),
        Malformed(name: "lengths overrun", bytes: Support.frame([0, 255, 255, 255, 255], "1", "2", "t", "e"), error: .invalidBinaryFrame("field lengths need 1020 bytes, 4 present")),
        Malformed(name: "topic not UTF-8", bytes: Support.frame([0, 0, 0, 2, 1], [0xFF, 0xFE], "e"), error: .invalidBinaryFrame("topic is not valid UTF-8")),
        Malformed(name: "event not UTF-8", bytes: Support.frame([0, 0, 0, 1, 2], "t", [0xC3, 0x28]), error: .invalidBinaryFrame("event is not valid UTF-8")),
        Malformed(name: "ref not UTF-8", bytes: Support.frame([0, 0, 1, 1, 1], [0x80], "t", "e"), error: .invalidBinaryFrame("ref is not valid UTF-8")),
        Malformed(name: "join_ref encoded surrogate", bytes: Support.frame([0, 3, 0, 1, 1], [0xED, 0xA0, 0x80], "t", "e"), error: .invalidBinaryFrame("join_ref is not valid UTF-8")),
        Malformed(name: "empty topic", bytes: Support.frame([0, 0, 0, 0, 1], "e"), error: .invalidShape("topic must not be empty")),
        Malformed(name: "empty event", bytes: Support.frame([0, 0, 0, 1, 0], "t"), error: .invalidShape("event must not be empty")),
    ]

    @Test(arguments: malformedClientFrames)
    func rejectsMalformedClientFrames(_ malformed: Malformed) {
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(malformed.bytes), kind: .binary, limits: .default) } == malformed.error)
    }

    static let malformedServerFrames: [Malformed] = [
        Malformed(name: "empty", bytes: [], error: .invalidBinaryFrame("empty frame")),
        Malformed(name: "unknown kind", bytes: Support.frame([7, 1, 1], "t", "e"), error: .invalidBinaryFrame("unknown kind 7")),
        Malformed(name: "truncated push header", bytes: [0, 1], error: .invalidBinaryFrame("truncated header: 3 length bytes expected, 1 present")),
        Malformed(name: "truncated reply header", bytes: [1, 0, 1, 1], error: .invalidBinaryFrame("truncated header: 4 length bytes expected, 3 present")),
        Malformed(name: "truncated broadcast header", bytes: [2, 1], error: .invalidBinaryFrame("truncated header: 2 length bytes expected, 1 present")),
        Malformed(name: "broadcast lengths overrun", bytes: Support.frame([2, 10, 5], "room:lobby", "eve"), error: .invalidBinaryFrame("field lengths need 15 bytes, 13 present")),
        Malformed(name: "reply lengths overrun", bytes: Support.frame([1, 1, 1, 1, 200], "1", "2", "t", "ok"), error: .invalidBinaryFrame("field lengths need 203 bytes, 5 present")),
        Malformed(name: "status not UTF-8", bytes: Support.frame([1, 0, 0, 1, 1], "t", [0xFF]), error: .invalidBinaryFrame("status is not valid UTF-8")),
        Malformed(name: "broadcast with empty topic", bytes: Support.frame([2, 0, 1], "e"), error: .invalidShape("topic must not be empty")),
    ]

    @Test(arguments: malformedServerFrames)
    func rejectsMalformedServerFrames(_ malformed: Malformed) {
        #expect(Support.caught { try self.serializer.decodeServerFrame(Support.buffer(malformed.bytes), kind: .binary, limits: .default) } == malformed.error)
    }

    @Test func enforcesFieldLimits() throws {
        let limits = DecodingLimits(maxJSONDepth: 32, maxTopicLength: 3, maxEventLength: 2)
        let longTopic = Support.frame([0, 0, 0, 4, 1], "abcd", "e")
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(longTopic), kind: .binary, limits: limits) } == .fieldTooLong(field: "topic", limit: 3))
        let longEvent = Support.frame([2, 1, 3], "t", "abc")
        #expect(Support.caught { try self.serializer.decodeServerFrame(Support.buffer(longEvent), kind: .binary, limits: limits) } == .fieldTooLong(field: "event", limit: 2))
        let atLimits = Support.frame([0, 0, 0, 3, 2], "abc", "de")
        #expect(try self.serializer.decodeClientFrame(Support.buffer(atLimits), kind: .binary, limits: limits).topic == "abc")
    }
}
