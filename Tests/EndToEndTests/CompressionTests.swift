import CompressNIO
import NIOCore
import Switchboard
import SwitchboardTesting
import Testing

/// permessage-deflate through the Phoenix path: negotiated, compressed both
/// ways, one compressed copy per broadcast, and bounded when inflating.
@Suite("Compression", .timeLimit(.minutes(1)))
struct CompressionTests {
    /// A raw client that offered permessage-deflate on an endpoint with `compress` on.
    private static func compressingClient(_ server: SwitchboardServer, offer: String = "permessage-deflate; client_no_context_takeover") async throws -> (RawWebSocket, String) {
        try await RawWebSocket.connectReturningHead(
            port: server.localPort!, path: "/socket/websocket?vsn=2.0.0", headers: ["Sec-WebSocket-Extensions: \(offer)"]
        )
    }

    private static func withCompressingServer(_ body: (SwitchboardServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoopThreads = 1
        configuration.limits.maxFrameSize = 64 << 10
        var endpoint = BuiltIn.endpoint()
        endpoint.compress = true
        let server = SwitchboardServer(configuration: configuration, endpoints: [endpoint])
        try await server.start()
        do {
            try await body(server)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// A client frame holding `text` compressed (RSV1 set), masked.
    private static func compressedFrame(_ text: String) throws -> [UInt8] {
        let compressor = try ZlibCompressor(algorithm: .deflate)
        var input = ByteBuffer(string: text)
        var output = try input.compressStream(with: compressor, flush: .sync)
        output.moveWriterIndex(to: output.writerIndex - 4)
        return RawWebSocket.frame(opcode: 0x1, payload: Array(output.readableBytesView), reservedBits: 0b100)
    }

    private static func inflate(_ payload: [UInt8]) throws -> String {
        var input = ByteBuffer(bytes: payload + [0, 0, 0xFF, 0xFF])
        let decompressor = try ZlibDecompressor(algorithm: .deflate)
        return String(buffer: try input.decompressStream(with: decompressor))
    }

    @Test func compressedMessagesFlowBothWaysAndABroadcastIsCompressedOnce() async throws {
        try await Self.withCompressingServer { server in
            let (alice, head) = try await Self.compressingClient(server)
            defer { alice.close() }
            #expect(head.lowercased().contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
            let (bob, _) = try await Self.compressingClient(server, offer: "permessage-deflate")
            defer { bob.close() }
            for (socket, name) in [(alice, "alice"), (bob, "bob")] {
                try await socket.send(frames: [try Self.compressedFrame(#"["1","1","room:zip","phx_join",{"user_id":"\#(name)"}]"#)])
                // A short reply goes uncompressed.
                let (first, reply) = try await socket.receiveRaw()
                #expect(first == 0x81)
                #expect(String(decoding: reply, as: UTF8.self).contains(#""status":"ok""#))
            }
            let text = String(repeating: "compressible ", count: 200)
            try await server.pubsub.broadcast(topic: "room:zip", event: "shout", payload: .json(["text": .string(text)]))
            let (aliceFirst, aliceBytes) = try await alice.receiveRaw()
            let (bobFirst, bobBytes) = try await bob.receiveRaw()
            #expect(aliceFirst == 0xC1 && bobFirst == 0xC1)
            #expect(aliceBytes == bobBytes, "one compressed copy for both")
            #expect(aliceBytes.count < text.utf8.count / 10)
            #expect(try Self.inflate(aliceBytes) == #"[null,null,"room:zip","shout",{"text":"\#(text)"}]"#)
        }
    }

    @Test func aMessageThatInflatesPastTheFrameLimitCloses1009() async throws {
        try await Self.withCompressingServer { server in
            let (socket, _) = try await Self.compressingClient(server)
            defer { socket.close() }
            // A few hundred bytes that inflate to 1 MiB, past the 64 KiB limit.
            try await socket.send(frames: [try Self.compressedFrame(#"["1","1","room:zip","x",{"a":""# + String(repeating: "a", count: 1 << 20) + #""}]"#)])
            var frame = try await socket.receive()
            while case .text = frame { frame = try await socket.receive() }
            #expect(frame == .close(code: 1009))
        }
    }

    @Test func withoutCompressOnTheEndpointAnOfferIsIgnored() async throws {
        try await withServer { server in
            let (socket, head) = try await RawWebSocket.connectReturningHead(
                port: server.localPort!, path: "/socket/websocket?vsn=2.0.0", headers: ["Sec-WebSocket-Extensions: permessage-deflate"]
            )
            defer { socket.close() }
            #expect(!head.lowercased().contains("sec-websocket-extensions"))
            // RSV1 is then a protocol error.
            try await socket.send(frames: [try Self.compressedFrame(#"["1","1","room:zip","phx_join",{}]"#)])
            #expect(try await socket.receive() == .close(code: 1002))
        }
    }
}
