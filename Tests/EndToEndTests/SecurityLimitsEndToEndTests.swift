import Foundation
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardClient
import Testing

/// Each hostile-input limit over the wire, and that it affects only the
/// connection (or address) that broke it.
@Suite("Security: limits end to end", .timeLimit(.minutes(2)))
struct SecurityLimitsEndToEndTests {
    @Test func tooManyConnectionsFromOneAddressAre429() async throws {
        try await withSecurityServer({ $0.limits.maxConnectionsPerAddress = 2 }) { server async throws in
            let first = server.client(path: "/open/websocket")
            let second = server.client(path: "/open/websocket")
            try await first.connect()
            try await second.connect()
            let third = server.client(path: "/open/websocket")
            await #expect {
                try await third.connect()
            } throws: { error in
                (error as? ClientError)?.httpStatus == 429
            }
            #expect(server.logs.lines(containing: "too many connections from one address").count == 1)
            // A closed connection gives its slot back.
            await first.disconnect()
            try await Self.waitUntil { server.server.connectionCount == 1 }
            try await Task.sleep(for: .milliseconds(50))
            let fourth = server.client(path: "/open/websocket")
            try await fourth.connect()
            await second.disconnect()
            await fourth.disconnect()
        }
    }

    @Test func refusedUpgradesGiveTheirSlotBack() async throws {
        try await withSecurityServer({ $0.limits.maxConnectionsPerAddress = 1 }) { server async throws in
            for _ in 0..<5 {
                #expect(try await server.upgradeStatus(query: "&token=bad").status == 403)
            }
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await server.upgradeStatus(path: "/open/websocket").status == 101)
        }
    }

    @Test func clientsBehindATrustedProxyAreCountedByForwardedAddress() async throws {
        try await withSecurityServer({
            $0.limits.maxConnectionsPerAddress = 1
            $0.trustedProxies = TrustedProxies(parsing: "127.0.0.1")!
        }) { server async throws in
            let alice = server.client(path: "/open/websocket") { $0.headers = ["X-Forwarded-For": "198.51.100.1"] }
            let bob = server.client(path: "/open/websocket") { $0.headers = ["X-Forwarded-For": "198.51.100.2"] }
            try await alice.connect()
            try await bob.connect()
            let aliceAgain = server.client(path: "/open/websocket") { $0.headers = ["X-Forwarded-For": "198.51.100.1"] }
            await #expect {
                try await aliceAgain.connect()
            } throws: { error in
                (error as? ClientError)?.httpStatus == 429
            }
            await alice.disconnect()
            await bob.disconnect()
        }
    }

    @Test func floodingMessagesClosesWith1008AndSparesOthers() async throws {
        // 50 messages overrun 5/s with a burst of 10 unless sending them takes over 8 s.
        try await withSecurityServer({ $0.limits.inboundMessageRate = MessageRate(perSecond: 5, burst: 10) }) { server async throws in
            let flooder = server.client(path: "/open/websocket")
            let polite = server.client(path: "/open/websocket")
            try await flooder.connect()
            try await polite.connect()
            let room = polite.channel("room:calm")
            _ = try await room.join()
            async let closed = flooder.nextClose(timeout: .seconds(5))
            for index in 0..<50 {
                try? await flooder.sendRaw(text: #"[null,"\#(index)","phoenix","heartbeat",{}]"#)
            }
            let close = try await closed
            #expect(close.code == 1008)
            #expect(close.reason == "message rate limit exceeded")
            #expect(server.logs.lines(containing: "message rate limit exceeded").count == 1)
            // Within the rate, the other client goes on.
            for _ in 0..<5 {
                #expect(try await room.push("ping", ["ok": true]).response == .json(["ok": true]))
                try await Task.sleep(for: .milliseconds(60))
            }
            await polite.disconnect()
        }
    }

    @Test func oversizedRequestLinesAndHeadersAreRefused() async throws {
        try await withSecurityServer({
            $0.limits.maxHeaderFieldSize = 1024
            $0.limits.maxHeadersSize = 4096
            $0.limits.maxHeaderCount = 20
        }) { server async throws in
            let longURI = try await server.upgradeStatus(query: "&x=" + String(repeating: "a", count: 2000))
            #expect(longURI.status == 400)
            let longHeader = try await server.upgradeStatus(headers: ["X-Big: " + String(repeating: "b", count: 2000)])
            #expect(longHeader.status == 400)
            let manyHeaders = try await server.upgradeStatus(headers: (0..<30).map { "X-H\($0): v" })
            #expect(manyHeaders.status == 400)
            let manyMedium = try await server.upgradeStatus(headers: (0..<8).map { "X-M\($0): " + String(repeating: "m", count: 900) })
            #expect(manyMedium.status == 400)
            // Within the bounds all is well.
            #expect(try await server.upgradeStatus(path: "/open/websocket", headers: ["X-Fine: yes"]).status == 101)
            #expect(try await RawHTTP.request(port: server.port, path: "/healthz").status == 200)
        }
    }

    @Test func aSlowRequestIsCutOff() async throws {
        try await withSecurityServer({ $0.limits.requestTimeout = .milliseconds(300) }) { server async throws in
            let started = ContinuousClock.now
            // Half a request head, never finished: the server closes the connection.
            let response = try await RawHTTP.send(port: server.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            #expect(response.status == -1)
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func oversizedDeepAndLongFramesCloseOnlyTheirConnection() async throws {
        try await withSecurityServer({ $0.limits.maxFrameSize = 4096 }) { server async throws in
            let bystander = server.client(path: "/open/websocket")
            try await bystander.connect()
            let room = bystander.channel("room:bystander")
            _ = try await room.join()
            let attacks: [(String, UInt16)] = [
                (#"["1","1","room:x","ping",{"a":""# + String(repeating: "x", count: 5000) + #""}]"#, 1009),
                (#"["1","1","room:x","ping","# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "]", 1002),
                (#"["1","1",""# + String(repeating: "t", count: 300) + #"","ping",{}]"#, 1002),
                (#"["1","1","room:x",""# + String(repeating: "e", count: 300) + #"",{}]"#, 1002),
                ("not json at all", 1002),
            ]
            for (frame, code) in attacks {
                let attacker = server.client(path: "/open/websocket")
                try await attacker.connect()
                async let closed = attacker.nextClose(timeout: .seconds(5))
                try? await attacker.sendRaw(text: frame)
                #expect(try await closed.code == code, "\(frame.prefix(40))")
            }
            #expect(try await room.push("ping", ["still": "here"]).response == .json(["still": "here"]))
            await bystander.disconnect()
        }
    }

    /// Polls `condition` every 10 ms for up to `timeout`.
    private static func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ClientError.timeout }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
