import Foundation
import Switchboard
import SwitchboardClient
import Testing

/// Many clients sending garbage at once — raw bytes, bad tokens, malformed,
/// oversized and too-fast frames, half-sent requests — while a well-behaved
/// client on the same node keeps getting its round trips answered.
@Suite("Security: flood", .timeLimit(.minutes(2)))
struct SecurityFloodTests {
    static let attackers = 32
    static let duration = Duration.seconds(3)
    static let maxAttacksPerAttacker = 200

    @Test func aGarbageFloodLeavesAWellBehavedClientAnswered() async throws {
        try await withSecurityServer({
            $0.limits.requestTimeout = .seconds(1)
            $0.limits.maxFrameSize = 64 << 10
        }) { server async throws in
            let good = server.client(authToken: try await SecurityTestServer.token("1"))
            try await good.connect()
            let room = good.channel("room:flood")
            _ = try await room.join()
            let mine = good.channel("user:1")
            _ = try await mine.join()

            let deadline = ContinuousClock.now + Self.duration
            var latencies: [Duration] = []
            let attacks = try await withThrowingTaskGroup(of: Int.self) { group in
                for attacker in 0..<Self.attackers {
                    group.addTask { await Self.attack(server, kind: attacker, until: deadline) }
                }
                var sequence = 0
                while ContinuousClock.now < deadline {
                    sequence += 1
                    let started = ContinuousClock.now
                    let reply = try await room.push("ping", ["n": .int(sequence)], timeout: .seconds(5))
                    #expect(reply.response == .json(["n": .int(sequence)]))
                    latencies.append(ContinuousClock.now - started)
                    try await Task.sleep(for: .milliseconds(20))
                }
                return try await group.reduce(0, +)
            }

            // Every round trip was answered (a push times out after 5 s), they
            // kept flowing, and none waited long — generous bounds, as the test
            // suite shares two cores with the flood and with other tests.
            #expect(attacks > Self.attackers * 3, "the flood actually happened (\(attacks) attacks)")
            #expect(latencies.count >= 5, "round trips kept flowing (\(latencies.count))")
            let slowest = latencies.max() ?? .zero
            #expect(slowest < .seconds(3), "slowest round trip \(slowest)")
            // The good client is still connected and authorized; the node is healthy.
            let connected = await good.isConnected
            #expect(connected)
            #expect(try await mine.push("anything", [:]).status == .error)
            #expect(try await RawHTTP.request(port: server.port, path: "/healthz").status == 200)
            let settle = ContinuousClock.now + .seconds(10)
            while server.server.connectionCount > 1, ContinuousClock.now < settle {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(server.server.connectionCount == 1, "every attacking connection was closed")
            await good.disconnect()
        }
    }

    /// One attacker: a kind of garbage, again and again until the deadline.
    static func attack(_ server: SecurityTestServer, kind: Int, until deadline: ContinuousClock.Instant) async -> Int {
        var count = 0
        while ContinuousClock.now < deadline, count < maxAttacksPerAttacker {
            count += 1
            switch kind % 7 {
            case 0:
                let junk = String(decoding: (0..<Int.random(in: 1...512)).map { _ in UInt8.random(in: 0...255) }, as: UTF8.self)
                _ = try? await RawHTTP.send(port: server.port, junk + "\r\n\r\n")
            case 1:
                _ = try? await server.upgradeStatus(query: "&token=\(UUID().uuidString)")
            case 2:
                await websocket(server) { client in
                    try await client.sendRaw(text: "[\"1\",\"1\",\"room:x\"," + String((0..<64).map { _ in "[]{}\",:x\\".randomElement()! }))
                }
            case 3:
                await websocket(server) { client in
                    for index in 0..<1000 { try await client.sendRaw(text: #"[null,"\#(index)","phoenix","heartbeat",{}]"#) }
                }
            case 4:
                await websocket(server) { client in
                    try await client.sendRaw(text: String(repeating: "x", count: 70_000))
                }
            case 5:
                _ = try? await RawHTTP.send(port: server.port, "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            default:
                await websocket(server) { client in
                    try await client.sendRaw(binary: (0..<Int.random(in: 1...300)).map { _ in UInt8.random(in: 0...255) })
                }
            }
        }
        return count
    }

    /// Opens a WebSocket on `/open`, misbehaves, and waits for the server to close it.
    private static func websocket(_ server: SecurityTestServer, _ misbehave: (PhoenixClient) async throws -> Void) async {
        let client = server.client(path: "/open/websocket")
        do {
            try await client.connect()
            try? await misbehave(client)
            _ = try? await client.nextClose(timeout: .seconds(3))
        } catch {}
        await client.disconnect()
    }
}
