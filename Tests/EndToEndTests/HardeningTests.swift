import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The defects a hostile client found, each over the wire: requests that
/// never finish, connections that never upgrade, control-frame floods, and
/// RFC 6455's rules for frames and close codes.
@Suite("Security: hardening", .timeLimit(.minutes(2)))
struct HardeningTests {
    // MARK: - Requests that never finish

    @Test("an upgrade request whose announced body never comes is cut off at the request timeout",
          arguments: ["Content-Length: 10", "Transfer-Encoding: chunked"])
    func anUpgradeWithABodyThatNeverComesIsCutOff(bodyHeader: String) async throws {
        try await withSecurityServer({ $0.limits.requestTimeout = .milliseconds(300) }) { server async throws in
            let connection = try await RawTCPConnection.connect(port: server.port)
            defer { connection.close() }
            // A bad vsn: no token is needed to get this far.
            let request = ["GET /socket/websocket?vsn=9.9.9 HTTP/1.1", "Host: 127.0.0.1"] + SecurityTestServer.upgradeHeaders + [bodyHeader]
            let started = ContinuousClock.now
            try await connection.write(request.joined(separator: "\r\n") + "\r\n\r\n")
            _ = try await connection.readToEnd()
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func connectionsThatNeverUpgradeCountTowardTheAddressLimit() async throws {
        try await withSecurityServer({ $0.limits.maxConnectionsPerAddress = 2 }) { server async throws in
            let idle = [try await RawTCPConnection.connect(port: server.port), try await RawTCPConnection.connect(port: server.port)]
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await server.upgradeStatus(path: "/open/websocket").status == 429)
            #expect(try await RawHTTP.request(port: server.port, path: "/healthz").status == 429)
            idle[0].close()
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await RawHTTP.request(port: server.port, path: "/healthz").status == 200)
            idle[1].close()
        }
    }

    @Test func theAdminListenerTimesOutIdleAndHalfSentRequestsAndBoundsHeaders() async throws {
        try await withSecurityServer({
            AdminTestSupport.configure(&$0)
            // Long enough for a loaded machine to read a whole request in time.
            $0.limits.requestTimeout = .seconds(1)
        }) { server async throws in
            let adminPort = try #require(server.server.adminPort)
            for opening in ["", "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "] {
                let connection = try await RawTCPConnection.connect(port: adminPort)
                defer { connection.close() }
                let started = ContinuousClock.now
                if !opening.isEmpty { try await connection.write(opening) }
                _ = try await connection.readToEnd()
                #expect(ContinuousClock.now - started < .seconds(4), "\(opening.isEmpty ? "idle" : "half-sent")")
            }
            let manyHeaders = (0..<200).map { "X-Header-\($0): \($0)" } + ["Authorization: Bearer \(AdminTestSupport.token)"]
            let response = try await RawHTTP.request(port: adminPort, path: "/stats", headers: manyHeaders)
            #expect(response.status != 200)
            #expect(try await AdminTestSupport.request(server.server, path: "/stats").status == 200)
        }
    }

    // MARK: - Frames

    @Test("a frame that breaks RFC 6455 closes its connection with 1002", arguments: [
        ("unmasked", RawWebSocket.frame(opcode: 0x1, payload: Array(#"[null,"1","phoenix","heartbeat",{}]"#.utf8), masked: false)),
        ("RSV1 without an extension", RawWebSocket.frame(opcode: 0x1, payload: Array("[]".utf8), reservedBits: 0b100)),
        ("opcode 3", RawWebSocket.frame(opcode: 0x3, payload: [1, 2, 3])),
        ("opcode 11", RawWebSocket.frame(opcode: 0xB, payload: [])),
    ])
    func framesThatBreakTheRFCClose1002(name: String, frame: [UInt8]) async throws {
        try await withSecurityServer { server async throws in
            let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
            defer { socket.close() }
            try await socket.send(frames: [frame])
            #expect(try await socket.receive() == .close(code: 1002), "\(name)")
        }
    }

    @Test("pongs and pings count toward the message rate", arguments: [0xA, 0x9] as [UInt8])
    func controlFramesCountTowardTheRate(opcode: UInt8) async throws {
        try await withSecurityServer({ $0.limits.inboundMessageRate = MessageRate(perSecond: 50, burst: 100) }) { server async throws in
            let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
            defer { socket.close() }
            try await socket.send(frames: Array(repeating: RawWebSocket.frame(opcode: opcode, payload: []), count: 1_000))
            var frame = try await socket.receive()
            while frame == .pong { frame = try await socket.receive() }
            #expect(frame == .close(code: 1008))
        }
    }

    @Test func aTextFrameThatIsNotUTF8Closes1007() async throws {
        try await withSecurityServer { server async throws in
            let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
            defer { socket.close() }
            try await socket.send(frames: [RawWebSocket.frame(opcode: 0x1, payload: [0x5B, 0x22, 0xFF, 0xFE, 0x22, 0x5D])])
            #expect(try await socket.receive() == .close(code: 1007))
        }
    }

    @Test("a client's close is answered as RFC 6455 §7.4 says", arguments: [
        ([], 1000), ([0x03], 1002),
        ([0x03, 0xE8], 1000), ([0x0B, 0xB8], 3000), ([0x0F, 0x9F], 3999), ([0x03, 0xF3], 1011),
        ([0x03, 0xE7], 1002), ([0x03, 0xED], 1002), ([0x03, 0xEE], 1002), ([0x03, 0xF7], 1002), ([0x13, 0x88], 1002),
        ([0x03, 0xE8, 0xFF, 0xFE], 1007),
    ] as [([UInt8], UInt16)])
    func closeCodesAreCheckedBeforeTheyAreEchoed(payload: [UInt8], answer: UInt16) async throws {
        try await withSecurityServer { server async throws in
            let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
            defer { socket.close() }
            try await socket.send(frames: [RawWebSocket.frame(opcode: 0x8, payload: payload)])
            #expect(try await socket.receive() == .close(code: answer))
        }
    }

    @Test func aClientThatClosesWithoutReadingIsLetGoAfterTheGrace() async throws {
        try await withSecurityServer({ $0.limits.maxOutboundBytes = 256 << 20 }) { server async throws in
            let socket = try await Self.joined(server, topic: "room:stuck")
            defer { socket.close() }
            // The client stops reading: 32 MiB fills both sockets' buffers and
            // the rest waits in the node, below its slow-consumer limit.
            for sequence in 0..<2_048 {
                try await server.server.pubsub.broadcast(topic: "room:stuck", event: "big", payload: .json(["data": Self.bigChunk, "n": .int(sequence)]))
            }
            try await Task.sleep(for: .milliseconds(200))
            // Its close frame cannot be answered; the node still lets go.
            try await socket.send(frames: [RawWebSocket.frame(opcode: 0x8, payload: [0x03, 0xE8])])
            let deadline = ContinuousClock.now + .seconds(10)
            while server.server.connectionCount > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(server.server.connectionCount == 0, "the connection is still open 10 s after the client's close frame")
        }
    }

    /// A raw WebSocket on `server` that has joined `topic`.
    static func joined(_ server: SecurityTestServer, topic: String) async throws -> RawWebSocket {
        let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
        do {
            try await socket.send(#"["1","1","\#(topic)","phx_join",{}]"#)
            #expect(try await socket.receiveText().contains("phx_reply"))
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    /// 16 KiB of payload, for broadcasts that fill a socket's buffers quickly.
    static let bigChunk = JSONValue.string(String(repeating: "x", count: 16 * 1024))

    @Test func anUnsupportedWebSocketVersionIsAnswered426WithTheOneSpoken() async throws {
        try await withSecurityServer { server async throws in
            let response = try await RawHTTP.request(port: server.port, path: "/open/websocket?vsn=2.0.0", headers: [
                "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 8",
            ])
            #expect(response.status == 426)
            #expect(response.headers.contains { $0.0.lowercased() == "sec-websocket-version" && $0.1 == "13" })
        }
    }

    @Test func aSlowConsumerReadsWholeFramesThen4008() async throws {
        try await withSecurityServer({ $0.limits.maxOutboundBytes = 1 << 20 }) { server async throws in
            let socket = try await Self.joined(server, topic: "room:slow")
            defer { socket.close() }
            // The client stops reading; broadcasts pile up until the node gives up on it.
            var sent = 0
            while server.logs.lines(containing: "client too slow").isEmpty, sent < 5_000 {
                try await server.server.pubsub.broadcast(topic: "room:slow", event: "big", payload: .json(["data": Self.bigChunk, "n": .int(sent)]))
                sent += 1
                if sent % 20 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(server.logs.lines(containing: "client too slow").count == 1, "after \(sent) broadcasts")
            // Slow, not gone: it reads again a little later, whole frames in
            // order, then the close frame with 4008.
            try await Task.sleep(for: .milliseconds(1_500))
            var received = 0
            while true {
                let frame = try await socket.receive()
                guard case .text(let text) = frame else {
                    #expect(frame == .close(code: 4008))
                    break
                }
                #expect(text.hasPrefix(#"[null,null,"room:slow","big",{"#) && text.hasSuffix("}]"))
                received += 1
            }
            #expect(received > 0 && received < sent)
        }
    }

    @Test func thousandsOfBadFramesInOneWriteCostOneLogLine() async throws {
        try await withSecurityServer { server async throws in
            let socket = try await RawWebSocket.connect(port: server.port, path: "/open/websocket?vsn=2.0.0")
            defer { socket.close() }
            try await socket.send(frames: Array(repeating: RawWebSocket.frame(opcode: 0x1, payload: Array("not json".utf8)), count: 20_000))
            #expect(try await socket.receive() == .close(code: 1002))
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.logs.lines(containing: "closing connection").count == 1, "\(server.logs.lines(containing: "closing connection").prefix(3))")
        }
    }
}
