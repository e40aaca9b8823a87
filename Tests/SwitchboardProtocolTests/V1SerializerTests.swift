import NIOCore
import Testing

@testable import SwitchboardProtocol

@Suite("V1 serializer")
struct V1SerializerTests {
    typealias Support = ProtocolTestSupport
    let serializer = V1Serializer()

    struct ClientGolden: Sendable, CustomTestStringConvertible {
        var name: String
        var message: Message
        var text: String
        var testDescription: String { self.name }
    }

    struct ServerGolden: Sendable, CustomTestStringConvertible {
        var name: String
        var frame: OutboundFrame
        var text: String
        var testDescription: String { self.name }
    }

    static let clientFrames: [ClientGolden] = [
        ClientGolden(
            name: "join",
            message: Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_join", payload: .json(["token": "abc"])),
            text: #"{"topic":"room:lobby","event":"phx_join","payload":{"token":"abc"},"ref":"1","join_ref":"1"}"#
        ),
        ClientGolden(
            name: "push",
            message: Message(joinRef: "1", ref: "2", topic: "room:lobby", event: "ping", payload: .json(["x": 1])),
            text: #"{"topic":"room:lobby","event":"ping","payload":{"x":1},"ref":"2","join_ref":"1"}"#
        ),
        ClientGolden(
            name: "heartbeat",
            message: Message(joinRef: nil, ref: "5", topic: "phoenix", event: "heartbeat"),
            text: #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5","join_ref":null}"#
        ),
        ClientGolden(
            name: "leave",
            message: Message(joinRef: "1", ref: "6", topic: "room:lobby", event: "phx_leave"),
            text: #"{"topic":"room:lobby","event":"phx_leave","payload":{},"ref":"6","join_ref":"1"}"#
        ),
    ]

    static let serverFrames: [ServerGolden] = [
        ServerGolden(
            name: "join ok",
            frame: .reply(Reply(joinRef: "1", ref: "1", topic: "room:lobby", status: .ok)),
            text: #"{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1","join_ref":"1"}"#
        ),
        ServerGolden(
            name: "join refused",
            frame: .reply(Reply(joinRef: "1", ref: "1", topic: "user:2", status: .error, response: .json(["reason": "unauthorized"]))),
            text: #"{"topic":"user:2","event":"phx_reply","payload":{"status":"error","response":{"reason":"unauthorized"}},"ref":"1","join_ref":"1"}"#
        ),
        ServerGolden(
            name: "reply",
            frame: .reply(Reply(joinRef: "1", ref: "2", topic: "room:lobby", status: .ok, response: .json(["x": 1]))),
            text: #"{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{"x":1}},"ref":"2","join_ref":"1"}"#
        ),
        ServerGolden(
            name: "server push",
            frame: .message(Message(joinRef: "1", ref: nil, topic: "room:lobby", event: "event", payload: .json(["body": "hi"]))),
            text: #"{"topic":"room:lobby","event":"event","payload":{"body":"hi"},"ref":null,"join_ref":"1"}"#
        ),
        ServerGolden(
            name: "broadcast",
            frame: .message(Message(topic: "room:lobby", event: "event", payload: .json(["body": "hi"]))),
            text: #"{"topic":"room:lobby","event":"event","payload":{"body":"hi"},"ref":null,"join_ref":null}"#
        ),
        ServerGolden(
            name: "heartbeat reply",
            frame: .reply(Reply(joinRef: nil, ref: "5", topic: "phoenix", status: .ok)),
            text: #"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"5","join_ref":null}"#
        ),
        ServerGolden(
            name: "phx_close",
            frame: .message(Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_close")),
            text: #"{"topic":"room:lobby","event":"phx_close","payload":{},"ref":"1","join_ref":"1"}"#
        ),
        ServerGolden(
            name: "phx_error",
            frame: .message(Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_error")),
            text: #"{"topic":"room:lobby","event":"phx_error","payload":{},"ref":"1","join_ref":"1"}"#
        ),
        ServerGolden(
            name: "unmatched topic",
            frame: .reply(Reply(joinRef: nil, ref: "7", topic: "nope", status: .error, response: .json(["reason": "unmatched topic"]))),
            text: #"{"topic":"nope","event":"phx_reply","payload":{"status":"error","response":{"reason":"unmatched topic"}},"ref":"7","join_ref":null}"#
        ),
    ]

    @Test(arguments: clientFrames)
    func clientFrame(_ golden: ClientGolden) throws {
        let encoded = try Support.encodeClient(self.serializer, golden.message)
        #expect(encoded.kind == .text)
        #expect(encoded.bytes == Array(golden.text.utf8))
        #expect(try self.serializer.decodeClientFrame(Support.buffer(golden.text), kind: .text, limits: .default) == golden.message)
    }

    @Test(arguments: serverFrames)
    func serverFrame(_ golden: ServerGolden) throws {
        let encoded = try Support.encodeServer(self.serializer, golden.frame)
        #expect(encoded.kind == .text)
        #expect(encoded.bytes == Array(golden.text.utf8))
        #expect(try self.serializer.decodeServerFrame(Support.buffer(golden.text), kind: .text, limits: .default) == golden.frame)
    }

    @Test func version() {
        #expect(self.serializer.version == "1.0.0")
    }

    @Test func joinRefMayBeAbsentAndKeysInAnyOrder() throws {
        let text = #"{"ref":"5","payload":{},"event":"heartbeat","topic":"phoenix","extra":true}"#
        let decoded = try self.serializer.decodeClientFrame(Support.buffer(text), kind: .text, limits: .default)
        #expect(decoded == Message(joinRef: nil, ref: "5", topic: "phoenix", event: "heartbeat"))
    }

    @Test func refMayBeNull() throws {
        let text = #"{"topic":"t","event":"e","payload":[1],"ref":null,"join_ref":null}"#
        let decoded = try self.serializer.decodeClientFrame(Support.buffer(text), kind: .text, limits: .default)
        #expect(decoded == Message(topic: "t", event: "e", payload: .json([1])))
    }

    @Test func binaryFramesAreRejected() {
        let frame = Support.buffer(Support.frame([0, 1, 1, 1, 1], "1", "2", "t", "e"))
        #expect(Support.caught { try self.serializer.decodeClientFrame(frame, kind: .binary, limits: .default) } == .invalidBinaryFrame("V1 has no binary frames"))
        #expect(Support.caught { try self.serializer.decodeServerFrame(frame, kind: .binary, limits: .default) } == .invalidBinaryFrame("V1 has no binary frames"))
    }

    @Test func binaryPayloadsAreUnencodable() {
        var buffer = ByteBuffer()
        let data = Payload.binary(Support.buffer([1, 2, 3]))
        #expect(Support.caught { try self.serializer.encodeServerFrame(.message(Message(topic: "t", event: "e", payload: data)), into: &buffer) } == .unencodable("V1 cannot carry a binary payload"))
        #expect(Support.caught { try self.serializer.encodeServerFrame(.reply(Reply(joinRef: nil, ref: "1", topic: "t", status: .ok, response: data)), into: &buffer) } == .unencodable("V1 cannot carry a binary reply"))
        #expect(Support.caught { try self.serializer.encodeClientMessage(Message(topic: "t", event: "e", payload: data), into: &buffer) } == .unencodable("V1 cannot carry a binary payload"))
        #expect(buffer.readableBytes == 0)
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var text: String
        var error: ProtocolError
        var testDescription: String { self.text }
    }

    static let malformed: [Malformed] = [
        Malformed(text: #"[null,"1","t","e",{}]"#, error: .invalidShape("a V1 message must be a JSON object")),
        Malformed(text: #"{"event":"e","payload":{},"ref":"1"}"#, error: .invalidShape(#"missing "topic""#)),
        Malformed(text: #"{"topic":"t","payload":{},"ref":"1"}"#, error: .invalidShape(#"missing "event""#)),
        Malformed(text: #"{"topic":"t","event":"e","ref":"1"}"#, error: .invalidShape(#"missing "payload""#)),
        Malformed(text: #"{"topic":"t","event":"e","payload":{}}"#, error: .invalidShape(#"missing "ref""#)),
        Malformed(text: #"{"topic":1,"event":"e","payload":{},"ref":"1"}"#, error: .invalidShape("topic must be a string")),
        Malformed(text: #"{"topic":"t","event":"","payload":{},"ref":"1"}"#, error: .invalidShape("event must not be empty")),
        Malformed(text: #"{"topic":"t","event":"e","payload":{},"ref":1}"#, error: .invalidShape("ref must be a string or null")),
        Malformed(text: #"{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":2}"#, error: .invalidShape("join_ref must be a string or null")),
        Malformed(text: #"{"topic":"t","event":"e","payload":{},"ref":"1",}"#, error: .invalidJSON("unexpected '}' at offset 48, expected a string key")),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedFrames(_ malformed: Malformed) {
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(malformed.text), kind: .text, limits: .default) } == malformed.error)
    }

    @Test func enforcesLimits() {
        let limits = DecodingLimits(maxJSONDepth: 1, maxTopicLength: 2, maxEventLength: 2)
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"{"topic":"abc","event":"e","payload":{},"ref":null}"#), kind: .text, limits: limits) } == .fieldTooLong(field: "topic", limit: 2))
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"{"topic":"t","event":"e","payload":{"a":[]},"ref":null}"#), kind: .text, limits: limits) } == .tooDeep(limit: 1))
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"{"topic":"t","event":"e","payload":{"a":1},"ref":null}"#), kind: .text, limits: limits) } == nil)
    }
}
