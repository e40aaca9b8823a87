import NIOCore
import Switchboard
@testable import SwitchboardRedis
import Testing

/// RESP through hiredis, and the envelope, without a server.
@Suite("Redis protocol")
struct ProtocolTests {
    private func parse(_ text: String, limits: HiredisReader.Limits = .init()) throws -> [RedisValue] {
        let reader = HiredisReader(limits: limits)
        try reader.feed(ByteBuffer(string: text).readableBytesView)
        var values: [RedisValue] = []
        while let value = try reader.nextReply() { values.append(value) }
        return values
    }

    @Test("every RESP2 type, pipelined replies in one read, and a reply split across reads")
    func parsesReplies() throws {
        let values = try parse("+OK\r\n-ERR nope\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$9\r\nsubscribe\r\n:1\r\n")
        #expect(values == [
            .simpleString("OK"), .error("ERR nope"), .integer(42), .bulkString(ByteBuffer(string: "hello")), .null,
            .array([.bulkString(ByteBuffer(string: "subscribe")), .integer(1)]),
        ])
        let reader = HiredisReader(limits: .init())
        try reader.feed(ByteBuffer(string: "$10\r\n01234").readableBytesView)
        #expect(try reader.nextReply() == nil)
        try reader.feed(ByteBuffer(string: "56789\r\n").readableBytesView)
        #expect(try reader.nextReply() == .bulkString(ByteBuffer(string: "0123456789")))
    }

    @Test("hostile replies are refused before they allocate")
    func boundsReplies() throws {
        let limits = HiredisReader.Limits(maxReplyBytes: 1024, maxArrayElements: 16)
        #expect(throws: RedisError.protocolViolation("array reply of 1000000000 elements, over the limit of 16")) {
            try parse("*1000000000\r\n", limits: limits)
        }
        // A bulk string that announces 1 GB is refused once the buffered part passes the limit.
        let reader = HiredisReader(limits: limits)
        try reader.feed(ByteBuffer(string: "$1000000000\r\n").readableBytesView)
        #expect(throws: RedisError.replyTooLarge(limit: 1024)) {
            try reader.feed(ByteBuffer(repeating: 0x61, count: 2000).readableBytesView)
        }
        // Many small elements add up too.
        let many = "*16\r\n" + String(repeating: "*16\r\n" + String(repeating: ":1\r\n", count: 16), count: 16)
        #expect(throws: RedisError.replyTooLarge(limit: 1024)) { try parse(many, limits: limits) }
        #expect(throws: RedisError.self) { try parse("?garbage\r\n") }
    }

    @Test("commands are formatted by hiredis, binary-safe")
    func formatsCommands() {
        var buffer = ByteBuffer()
        RedisCommand.write(["SUBSCRIBE", "a", "b"], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n")
        buffer.clear()
        RedisCommand.writePublish(channel: ByteBuffer(string: "ch"), message: ByteBuffer(bytes: [0, 13, 10, 255]), into: &buffer)
        #expect(Array(buffer.readableBytesView) == Array("*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n".utf8))
    }

    @Test("the publishing hot path writes the same channel name and envelope as the general one", arguments: [UInt8(1), 2])
    func hotPathEnvelopeMatchesTheGeneralOne(version: UInt8) throws {
        let payloads: [Payload] = [
            .json(["text": "hi"]),
            .json(["text": .string(String(repeating: "ü", count: 100))]),
            .json(["text": .string(String(repeating: "x", count: 70_000))]),
            .binary(ByteBuffer(bytes: [0, 1, 2, 254, 255])),
        ]
        for payload in payloads {
            let message = try Self.message(topic: "room:ü", event: "shout", payload: payload, node: "node-a")
            let channel = RedisChannelName(prefix: "switchboard", kind: "t:", name: "room:ü")
            let (channelBytes, envelopeBytes) = RedisEnvelope.withEncoded(version: version, .broadcast, message, instance: 7, channel: channel) { channel, envelope in
                (Array(channel), Array(envelope))
            }
            var general = ByteBuffer()
            RedisEnvelope(version: version, kind: .broadcast, message: message, instance: 7).encode(into: &general)
            #expect(channelBytes == Array(channel.description.utf8))
            #expect(envelopeBytes == Array(general.readableBytesView))
            #expect(envelopeBytes[2] == version)
            let decoded = try RedisEnvelope(decoding: ByteBuffer(bytes: envelopeBytes), limits: .default)
            #expect(decoded.version == version)
            #expect(decoded.topic == "room:ü" && decoded.event == "shout" && decoded.originNode == "node-a" && decoded.instance == 7)
            #expect(decoded.payload == payload)
            #expect(decoded.encoded == message.encoded, "the delivered message has no WebSocket header, whichever version carried it")
        }
    }

    @Test("an envelope round-trips with its message; damaged ones are refused")
    func envelopes() throws {
        let message = try Self.message(topic: "room:x", event: "shout", payload: .json(["text": "hi"]), node: "a")
        let encoded = try #require(message.encoded)
        var bytes = ByteBuffer()
        RedisEnvelope(version: 2, kind: .broadcast, message: message, instance: 7).encode(into: &bytes)
        #expect(bytes.readableBytes < 40 + encoded.readableBytes + 20, "the payload is not repeated next to the message")
        let decoded = try RedisEnvelope(decoding: bytes, limits: .default)
        #expect(decoded.kind == .broadcast)
        #expect(decoded.instance == 7)
        #expect(decoded.topic == "room:x" && decoded.event == "shout" && decoded.originNode == "a")
        #expect(decoded.payload == .json(["text": "hi"]))
        #expect(decoded.encoded == encoded)

        var binary = ByteBuffer()
        RedisEnvelope(kind: .direct, originNode: "b", instance: 1, topic: "t", event: "e", payload: .binary(ByteBuffer(bytes: [1, 2, 3]))).encode(into: &binary)
        #expect(try RedisEnvelope(decoding: binary, limits: .default).payload == .binary(ByteBuffer(bytes: [1, 2, 3])))

        var future = bytes
        future.setInteger(UInt8(3), at: future.readerIndex + 2)
        #expect(throws: RedisEnvelopeError.unknownVersion(3)) { try RedisEnvelope(decoding: future, limits: .default) }
        #expect(throws: RedisEnvelopeError.notAnEnvelope) { try RedisEnvelope(decoding: ByteBuffer(string: "hello"), limits: .default) }
        for cut in [3, 20, bytes.readableBytes - 1] {
            #expect(throws: RedisEnvelopeError.self) { try RedisEnvelope(decoding: bytes.getSlice(at: 0, length: cut)!, limits: .default) }
        }
        var badFrame = ByteBuffer(bytes: [0x81, 9])
        badFrame.writeString("hello")
        #expect(throws: RedisEnvelopeError.invalid("frame header says 9 bytes, 5 follow")) {
            try RedisEnvelope(decoding: Self.envelope(frame: badFrame), limits: .default)
        }
        #expect(throws: RedisEnvelopeError.invalid("the message is not a broadcast of room:x shout")) {
            try RedisEnvelope(decoding: Self.envelope(frame: Self.frame(#"[null,null,"room:y","shout",{}]"#)), limits: .default)
        }
        #expect(throws: RedisEnvelopeError.self) {
            try RedisEnvelope(decoding: Self.envelope(frame: Self.frame("<script>alert(1)</script>")), limits: .default)
        }
    }

    /// A broadcast as the core makes it, serialized by the V2 serializer.
    static func message(topic: String, event: String, payload: Payload, node: String) throws -> PubSubMessage {
        var encoded = ByteBuffer()
        _ = try V2Serializer().encodeServerFrame(.message(Message(topic: topic, event: event, payload: payload)), into: &encoded)
        return PubSubMessage(topic: topic, event: event, payload: payload, originNode: node, encoded: encoded)
    }

    /// A server text frame (header included) holding `text`.
    static func frame(_ text: String) -> ByteBuffer {
        var frame = ByteBuffer(bytes: [0x81, UInt8(text.utf8.count)])
        frame.writeString(text)
        return frame
    }

    /// A version 1 broadcast envelope for `room:x` / `shout` carrying `frame`,
    /// laid out by hand as the documentation says (payload kind 2).
    static func envelope(frame: ByteBuffer) -> ByteBuffer {
        EnvelopeVersionTests.envelope(version: 1, payloadKind: 2, node: "a", instance: 1, topic: "room:x", event: "shout", last: Array(frame.readableBytesView))
    }
}
