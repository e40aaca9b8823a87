import NIOCore
import Testing

@testable import SwitchboardProtocol

/// The frames of PROTOCOL.md's V2 table, byte for byte, in both directions.
@Suite("V2 serializer, text frames")
struct V2SerializerTextTests {
    typealias Support = ProtocolTestSupport
    let serializer = V2Serializer()

    /// A frame a client sends.
    struct ClientGolden: Sendable, CustomTestStringConvertible {
        var name: String
        var message: Message
        var frame: String
        var testDescription: String { self.name }
    }

    /// A frame the server sends.
    struct ServerGolden: Sendable, CustomTestStringConvertible {
        var name: String
        var frame: OutboundFrame
        var text: String
        var testDescription: String { self.name }
    }

    static let clientFrames: [ClientGolden] = [
        ClientGolden(
            name: "join",
            message: Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_join", payload: .json(["token": "abc", "n": 1])),
            frame: #"["1","1","room:lobby","phx_join",{"token":"abc","n":1}]"#
        ),
        ClientGolden(
            name: "push",
            message: Message(joinRef: "1", ref: "2", topic: "room:lobby", event: "ping", payload: .json(["x": 1])),
            frame: #"["1","2","room:lobby","ping",{"x":1}]"#
        ),
        ClientGolden(
            name: "heartbeat",
            message: Message(joinRef: nil, ref: "5", topic: "phoenix", event: "heartbeat", payload: .empty),
            frame: #"[null,"5","phoenix","heartbeat",{}]"#
        ),
        ClientGolden(
            name: "leave",
            message: Message(joinRef: "1", ref: "6", topic: "room:lobby", event: "phx_leave", payload: .empty),
            frame: #"["1","6","room:lobby","phx_leave",{}]"#
        ),
        ClientGolden(
            name: "push to an unjoined topic",
            message: Message(joinRef: nil, ref: "7", topic: "nope", event: "hello", payload: .empty),
            frame: #"[null,"7","nope","hello",{}]"#
        ),
        ClientGolden(
            name: "escapes in every field",
            message: Message(joinRef: "a\"b", ref: "\\", topic: "room:\n", event: "é\t", payload: .json(["k\"": "v\u{1}"])),
            frame: #"["a\"b","\\","room:\n","é\t",{"k\"":"v\u0001"}]"#
        ),
    ]

    static let serverFrames: [ServerGolden] = [
        ServerGolden(
            name: "join ok",
            frame: .reply(Reply(joinRef: "1", ref: "1", topic: "room:lobby", status: .ok)),
            text: #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#
        ),
        ServerGolden(
            name: "join refused",
            frame: .reply(Reply(joinRef: "1", ref: "1", topic: "user:2", status: .error, response: .json(["reason": "unauthorized"]))),
            text: #"["1","1","user:2","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#
        ),
        ServerGolden(
            name: "reply",
            frame: .reply(Reply(joinRef: "1", ref: "2", topic: "room:lobby", status: .ok, response: .json(["x": 1]))),
            text: #"["1","2","room:lobby","phx_reply",{"status":"ok","response":{"x":1}}]"#
        ),
        ServerGolden(
            name: "server push to one client",
            frame: .message(Message(joinRef: "1", ref: nil, topic: "room:lobby", event: "event", payload: .json(["body": "hi"]))),
            text: #"["1",null,"room:lobby","event",{"body":"hi"}]"#
        ),
        ServerGolden(
            name: "broadcast",
            frame: .message(Message(joinRef: nil, ref: nil, topic: "room:lobby", event: "event", payload: .json(["body": "hi", "at": 1.5]))),
            text: #"[null,null,"room:lobby","event",{"body":"hi","at":1.5}]"#
        ),
        ServerGolden(
            name: "heartbeat reply",
            frame: .reply(Reply(joinRef: nil, ref: "5", topic: "phoenix", status: .ok)),
            text: #"[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        ),
        ServerGolden(
            name: "leave reply",
            frame: .reply(Reply(joinRef: "1", ref: "6", topic: "room:lobby", status: .ok)),
            text: #"["1","6","room:lobby","phx_reply",{"status":"ok","response":{}}]"#
        ),
        ServerGolden(
            name: "phx_close",
            frame: .message(Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_close")),
            text: #"["1","1","room:lobby","phx_close",{}]"#
        ),
        ServerGolden(
            name: "phx_error",
            frame: .message(Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_error")),
            text: #"["1","1","room:lobby","phx_error",{}]"#
        ),
        ServerGolden(
            name: "phx_error, Phoenix 1.8",
            frame: .message(Message(joinRef: "1", ref: "1", topic: "room:lobby", event: "phx_error", payload: .json(["reason": "channel_crash"]))),
            text: #"["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]"#
        ),
        ServerGolden(
            name: "unmatched topic",
            frame: .reply(Reply(joinRef: nil, ref: "7", topic: "nope", status: .error, response: .json(["reason": "unmatched topic"]))),
            text: #"[null,"7","nope","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#
        ),
        ServerGolden(
            name: "too many channels",
            frame: .reply(Reply(joinRef: "101", ref: "101", topic: "room:101", status: .error, response: .json(["reason": "too many channels joined"]))),
            text: #"["101","101","room:101","phx_reply",{"status":"error","response":{"reason":"too many channels joined"}}]"#
        ),
        ServerGolden(
            name: "reply with a non-object response and a custom status",
            frame: .reply(Reply(joinRef: "1", ref: "3", topic: "room:lobby", status: "pending", response: .json([1, "a"]))),
            text: #"["1","3","room:lobby","phx_reply",{"status":"pending","response":[1,"a"]}]"#
        ),
    ]

    @Test(arguments: clientFrames)
    func clientFrame(_ golden: ClientGolden) throws {
        let encoded = try Support.encodeClient(self.serializer, golden.message)
        #expect(encoded.kind == .text)
        #expect(encoded.bytes == Array(golden.frame.utf8))
        let decoded = try self.serializer.decodeClientFrame(Support.buffer(golden.frame), kind: .text, limits: .default)
        #expect(decoded == golden.message)
    }

    @Test(arguments: serverFrames)
    func serverFrame(_ golden: ServerGolden) throws {
        let encoded = try Support.encodeServer(self.serializer, golden.frame)
        #expect(encoded.kind == .text)
        #expect(encoded.bytes == Array(golden.text.utf8))
        let decoded = try self.serializer.decodeServerFrame(Support.buffer(golden.text), kind: .text, limits: .default)
        #expect(decoded == golden.frame)
    }

    @Test func encodingAppendsToTheBuffer() throws {
        var buffer = Support.buffer("x")
        _ = try self.serializer.encodeServerFrame(.message(Message(topic: "t", event: "e")), into: &buffer)
        #expect(Support.bytes(buffer) == Array(#"x[null,null,"t","e",{}]"#.utf8))
    }

    @Test func decodingAcceptsWhitespaceAndAnyPayload() throws {
        let decoded = try self.serializer.decodeClientFrame(
            Support.buffer(" [ null , \"1\" , \"t\" , \"e\" , [1, \"a\"] ] "),
            kind: .text,
            limits: .default
        )
        #expect(decoded == Message(joinRef: nil, ref: "1", topic: "t", event: "e", payload: .json([1, "a"])))
        let scalar = try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"t","e","x"]"#), kind: .text, limits: .default)
        #expect(scalar.payload == .json("x"))
        let null = try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"t","e",null]"#), kind: .text, limits: .default)
        #expect(null.payload == .json(.null))
    }

    @Test func version() {
        #expect(self.serializer.version == "2.0.0")
        #expect(SerializerVersion(vsn: "2.0.0") == .v2)
        #expect(SerializerVersion(vsn: nil) == .v1)
        #expect(SerializerVersion(vsn: "3.0.0") == nil)
        #expect(SerializerVersion.v2.serializer.version == "2.0.0")
        #expect(SerializerVersion.v1.serializer.version == "1.0.0")
    }

    // MARK: Malformed shapes

    struct Malformed: Sendable, CustomTestStringConvertible {
        var text: String
        var error: ProtocolError
        var testDescription: String { self.text }
    }

    static let malformed: [Malformed] = [
        Malformed(text: #"["1","1","room:lobby","phx_join"]"#, error: .invalidShape("a V2 message must have 5 elements [join_ref, ref, topic, event, payload], not 4")),
        Malformed(text: #"["1","1","room:lobby","phx_join",{},{}]"#, error: .invalidShape("a V2 message must have 5 elements [join_ref, ref, topic, event, payload], not 6")),
        Malformed(text: "[]", error: .invalidShape("a V2 message must have 5 elements [join_ref, ref, topic, event, payload], not 0")),
        Malformed(text: #"{"topic":"t","event":"e","payload":{},"ref":"1"}"#, error: .invalidShape("a V2 message must be a JSON array")),
        Malformed(text: #""hello""#, error: .invalidShape("a V2 message must be a JSON array")),
        Malformed(text: "null", error: .invalidShape("a V2 message must be a JSON array")),
        Malformed(text: #"["1","1",42,"phx_join",{}]"#, error: .invalidShape("topic must be a string")),
        Malformed(text: #"["1","1",null,"phx_join",{}]"#, error: .invalidShape("topic must be a string")),
        Malformed(text: #"["1","1","t",["e"],{}]"#, error: .invalidShape("event must be a string")),
        Malformed(text: #"["1","1","","e",{}]"#, error: .invalidShape("topic must not be empty")),
        Malformed(text: #"["1","1","t","",{}]"#, error: .invalidShape("event must not be empty")),
        Malformed(text: #"[1,"1","t","e",{}]"#, error: .invalidShape("join_ref must be a string or null")),
        Malformed(text: #"["1",2,"t","e",{}]"#, error: .invalidShape("ref must be a string or null")),
        Malformed(text: #"["1",true,"t","e",{}]"#, error: .invalidShape("ref must be a string or null")),
        Malformed(text: #"["1","1","t","e",{},]"#, error: .invalidJSON("unexpected ']' at offset 20, expected a value")),
        Malformed(text: #"["1","1","t","e",{}] ["#, error: .invalidJSON("unexpected data after the JSON value at offset 21")),
        Malformed(text: #"["1","1","t","e",{"#, error: .invalidJSON("unexpected end of input at offset 18, expected a string key")),
        Malformed(text: "", error: .invalidJSON("unexpected end of input at offset 0, expected a value")),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedClientFrames(_ malformed: Malformed) {
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(malformed.text), kind: .text, limits: .default) } == malformed.error)
        // The client side applies the same checks.
        #expect(Support.caught { try self.serializer.decodeServerFrame(Support.buffer(malformed.text), kind: .text, limits: .default) } == malformed.error)
    }

    @Test func enforcesFieldLimits() throws {
        let limits = DecodingLimits(maxJSONDepth: 32, maxTopicLength: 5, maxEventLength: 3)
        #expect(try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"12345","abc",{}]"#), kind: .text, limits: limits).topic == "12345")
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"123456","abc",{}]"#), kind: .text, limits: limits) } == .fieldTooLong(field: "topic", limit: 5))
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"12345","abcd",{}]"#), kind: .text, limits: limits) } == .fieldTooLong(field: "event", limit: 3))
        // Limits count UTF-8 bytes: "éé" is 4.
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(#"[null,null,"t","éé",{}]"#), kind: .text, limits: limits) } == .fieldTooLong(field: "event", limit: 3))
    }

    @Test func depthLimitCountsFromThePayload() throws {
        let limits = DecodingLimits(maxJSONDepth: 2)
        let atLimit = #"[null,null,"t","e",{"a":{"b":1}}]"#
        #expect(try self.serializer.decodeClientFrame(Support.buffer(atLimit), kind: .text, limits: limits).payload == .json(["a": ["b": 1]]))
        let aboveLimit = #"[null,null,"t","e",{"a":{"b":[]}}]"#
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(aboveLimit), kind: .text, limits: limits) } == .tooDeep(limit: 2))
        let hostile = #"[null,null,"t","e","# + String(repeating: "[", count: 100_000)
        #expect(Support.caught { try self.serializer.decodeClientFrame(Support.buffer(hostile), kind: .text, limits: .default) } == .tooDeep(limit: 32))
    }

    @Test func replyPayloadMustHaveStatusAndResponse() {
        for text in [
            #"[null,"1","t","phx_reply",{"status":"ok"}]"#,
            #"[null,"1","t","phx_reply",{"status":1,"response":{}}]"#,
            #"[null,"1","t","phx_reply",{"response":{}}]"#,
            #"[null,"1","t","phx_reply",[]]"#,
        ] {
            #expect(Support.caught { try self.serializer.decodeServerFrame(Support.buffer(text), kind: .text, limits: .default) } == .invalidShape(#"a phx_reply payload must be {"status": string, "response": …}"#), "\(text)")
        }
    }

    @Test func replyFromAClientIsJustAMessage() throws {
        // The serializer does not judge events; the socket does.
        let decoded = try self.serializer.decodeClientFrame(Support.buffer(#"[null,"1","t","phx_reply",{}]"#), kind: .text, limits: .default)
        #expect(decoded == Message(joinRef: nil, ref: "1", topic: "t", event: "phx_reply", payload: .empty))
    }
}
