import Logging
import NIOCore
import NIOEmbedded
import Switchboard
@testable import SwitchboardRedis
import Testing

/// Envelope versions 1 (the V2 message as a WebSocket frame) and 2 (the V2
/// message alone): both are read, each is written when every peer reads it.
@Suite("Redis envelope versions")
struct EnvelopeVersionTests {
    /// An envelope laid out by hand, field by field, as RedisEnvelope's
    /// documentation gives it (independent of the encoder).
    static func envelope(
        version: UInt8, kind: UInt8 = 1, payloadKind: UInt8, node: String, instance: UInt64,
        topic: String, event: String, payload: [UInt8] = [], last: [UInt8]
    ) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeBytes([UInt8(ascii: "S"), UInt8(ascii: "B"), version, kind])
        bytes.writeInteger(instance)
        bytes.writeInteger(UInt64(0))
        bytes.writeInteger(payloadKind)
        for field in [node, topic, event] {
            bytes.writeInteger(UInt16(field.utf8.count))
            bytes.writeString(field)
        }
        bytes.writeInteger(UInt32(payload.count))
        bytes.writeBytes(payload)
        bytes.writeInteger(UInt32(last.count))
        bytes.writeBytes(last)
        return bytes
    }

    /// A server WebSocket frame around `body`, as the release before version 2 wrote it.
    static func webSocketFrame(_ body: [UInt8], opcode: UInt8) -> [UInt8] {
        var header: [UInt8] = [0x80 | opcode]
        if body.count < 126 {
            header.append(UInt8(body.count))
        } else if body.count <= 65_535 {
            header += [126, UInt8(body.count >> 8), UInt8(body.count & 0xFF)]
        } else {
            header.append(127)
            header += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(body.count) >> (8 * $0)) }
        }
        return header + body
    }

    static let text = #"[null,null,"room:x","shout",{"text":"hi"}]"#

    static func serialized(_ payload: Payload, topic: String = "room:x", event: String = "shout") throws -> [UInt8] {
        var buffer = ByteBuffer()
        _ = try V2Serializer().encodeServerFrame(.message(Message(topic: topic, event: event, payload: payload)), into: &buffer)
        return Array(buffer.readableBytesView)
    }

    @Test("version 2 round trip: the V2 message alone, text or binary, byte for byte as documented")
    func version2RoundTrip() throws {
        let cases: [(Payload, UInt8)] = [(.json(["text": "hi"]), 3), (.binary(ByteBuffer(bytes: [0, 1, 2, 254, 255])), 4)]
        for (payload, payloadKind) in cases {
            let body = try Self.serialized(payload)
            let message = PubSubMessage(topic: "room:x", event: "shout", payload: payload, originNode: "node-a", encoded: ByteBuffer(bytes: body))
            let written = RedisEnvelope.withEncoded(version: 2, .broadcast, message, instance: 42, channel: RedisChannelName(prefix: "p", kind: "t:", name: "room:x")) {
                Array($1)
            }
            let expected = Self.envelope(version: 2, payloadKind: payloadKind, node: "node-a", instance: 42, topic: "room:x", event: "shout", last: body)
            #expect(written == Array(expected.readableBytesView))
            let decoded = try RedisEnvelope(decoding: expected, limits: .default)
            #expect(decoded.version == 2 && decoded.kind == .broadcast && decoded.instance == 42)
            #expect(decoded.payload == payload)
            #expect(decoded.encoded.map { Array($0.readableBytesView) } == body)
            #expect(decoded.message.encodedKind == (payloadKind == 3 ? .text : .binary))
        }
    }

    @Test("version 1 as older nodes wrote it is still read, and still written byte for byte")
    func version1StillReadAndWritten() throws {
        let payloads: [Payload] = [
            .json(["text": "hi"]),
            .json(["text": .string(String(repeating: "a", count: 300))]),
            .json(["text": .string(String(repeating: "b", count: 70_000))]),
            .binary(ByteBuffer(bytes: [9, 8, 7])),
        ]
        for payload in payloads {
            let body = try Self.serialized(payload)
            let frame = Self.webSocketFrame(body, opcode: payload == .binary(ByteBuffer(bytes: [9, 8, 7])) ? 0x2 : 0x1)
            let old = Self.envelope(version: 1, payloadKind: 2, node: "old-node", instance: 5, topic: "room:x", event: "shout", last: frame)
            let decoded = try RedisEnvelope(decoding: old, limits: .default)
            #expect(decoded.version == 1 && decoded.originNode == "old-node")
            #expect(decoded.payload == payload)
            #expect(decoded.encoded.map { Array($0.readableBytesView) } == body, "the WebSocket header is stripped")

            let message = PubSubMessage(topic: "room:x", event: "shout", payload: payload, originNode: "old-node", encoded: ByteBuffer(bytes: body))
            var written = ByteBuffer()
            RedisEnvelope(version: 1, kind: .broadcast, message: message, instance: 5).encode(into: &written)
            #expect(written == old, "a new node writing version 1 writes what older nodes read")
        }
        // A version 1 frame whose kind disagrees with a separate payload is refused.
        let mismatched = Self.envelope(
            version: 1, payloadKind: 1, node: "a", instance: 1, topic: "room:x", event: "shout", payload: [1],
            last: Self.webSocketFrame(Array(Self.text.utf8), opcode: 0x1)
        )
        #expect(throws: RedisEnvelopeError.self) { try RedisEnvelope(decoding: mismatched, limits: .default) }
    }

    /// Damaged or hostile version 2 envelopes, each with why it must be refused.
    static var malformedVersion2: [(String, ByteBuffer)] {
        let body = Array(text.utf8)
        func envelope(payloadKind: UInt8 = 3, payload: [UInt8] = [], last: [UInt8]? = nil) -> ByteBuffer {
            Self.envelope(version: 2, payloadKind: payloadKind, node: "a", instance: 1, topic: "room:x", event: "shout", payload: payload, last: last ?? body)
        }
        let good = envelope()
        var cases: [(String, ByteBuffer)] = (1..<good.readableBytes).map { ("cut at \($0)", good.getSlice(at: 0, length: $0)!) }
        var longer = good
        longer.setInteger(UInt32(body.count + 1), at: good.readableBytes - body.count - 4)
        cases.append(("message length past the end", longer))
        var shorter = good
        shorter.setInteger(UInt32(body.count - 1), at: good.readableBytes - body.count - 4)
        cases.append(("message length short of the end", shorter))
        var hugeLength = good
        hugeLength.setInteger(UInt32.max, at: good.readableBytes - body.count - 4)
        cases.append(("message length of 4 GiB", hugeLength))
        var trailing = good
        trailing.writeBytes([0])
        cases.append(("a byte after the message", trailing))
        cases += [
            ("no message", envelope(last: [])),
            ("not JSON", envelope(last: Array("<script>alert(1)</script>".utf8))),
            ("a reply, not a broadcast", envelope(last: Array(#"[null,"1","room:x","phx_reply",{"status":"ok","response":{}}]"#.utf8))),
            ("a push with a join ref", envelope(last: Array(#"["1",null,"room:x","shout",{}]"#.utf8))),
            ("another topic", envelope(last: Array(#"[null,null,"room:y","shout",{}]"#.utf8))),
            ("text said to be binary", envelope(payloadKind: 4)),
            ("a WebSocket frame in version 2", envelope(payloadKind: 2, last: webSocketFrame(body, opcode: 0x1))),
            ("a header left in the message", envelope(last: webSocketFrame(body, opcode: 0x1))),
            ("a message next to a separate payload", envelope(payloadKind: 0, payload: Array("{}".utf8))),
            ("unknown payload kind", envelope(payloadKind: 9)),
            ("binary broadcast truncated", envelope(payloadKind: 4, last: [2, 6, 5, 0x72])),
        ]
        var version3 = good
        version3.setInteger(UInt8(3), at: 2)
        cases.append(("version 3", version3))
        return cases
    }

    @Test("malformed version 2 envelopes are refused")
    func malformedVersion2AreRefused() {
        for (name, bytes) in Self.malformedVersion2 {
            #expect(throws: RedisEnvelopeError.self, "\(name)") { try RedisEnvelope(decoding: bytes, limits: .default) }
        }
    }

    @Test("the subscriber side delivers both versions without a WebSocket header; malformed ones are dropped and counted")
    func inboundDeliversBothVersionsAndCountsMalformed() throws {
        let loop = EmbeddedEventLoop()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:1"), nodeName: "node-b")
        let counters = RedisAdapterCounters()
        let inbound = RedisInbound(
            eventLoop: loop, nodeName: "node-b", instance: 99, mode: .perTopic, limits: .default,
            board: RedisStatusBoard(configuration: configuration, logger: logger), counters: counters, logger: logger
        )
        let delivered = Delivered()
        _ = inbound.start { delivered.append($0) }
        loop.run()
        let body = Array(Self.text.utf8)
        let channel = ByteBuffer(string: "switchboard:t:room:x")
        inbound.received(channel: channel, payload: Self.envelope(version: 1, payloadKind: 2, node: "node-a", instance: 1, topic: "room:x", event: "shout", last: Self.webSocketFrame(body, opcode: 0x1)))
        inbound.received(channel: channel, payload: Self.envelope(version: 2, payloadKind: 3, node: "node-c", instance: 2, topic: "room:x", event: "shout", last: body))
        let malformed = Self.malformedVersion2
        for (_, bytes) in malformed {
            inbound.received(channel: channel, payload: bytes)
        }
        let messages = delivered.messages
        #expect(messages.map(\.originNode) == ["node-a", "node-c"])
        for message in messages {
            #expect(message.encoded.map { Array($0.readableBytesView) } == body)
            #expect(message.payload == .json(["text": "hi"]))
            #expect(message.encodedKind == .text)
        }
        #expect(counters.snapshot.malformedEnvelopes == malformed.count)
        #expect(counters.snapshot.received == 2)
    }

    @Test("the adapter writes version 1 until told, then the lowest version its peers read")
    func adapterWritesWhatPeersRead() throws {
        let configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:1"), nodeName: "node-a")
        let adapter = RedisAdapter(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(adapter.wireVersion == 2)
        #expect(adapter.envelopeVersion == 1)
        adapter.peersRead(wireVersion: 2)
        #expect(adapter.envelopeVersion == 2)
        adapter.peersRead(wireVersion: 1)
        #expect(adapter.envelopeVersion == 1)
        adapter.peersRead(wireVersion: 7)
        #expect(adapter.envelopeVersion == 2, "never newer than it reads itself")
        adapter.peersRead(wireVersion: 0)
        #expect(adapter.envelopeVersion == 1)
    }
}

/// Messages handed to a delivery callback.
private final class Delivered: @unchecked Sendable {
    private(set) var messages: [PubSubMessage] = []
    func append(_ message: PubSubMessage) { messages.append(message) }
}
