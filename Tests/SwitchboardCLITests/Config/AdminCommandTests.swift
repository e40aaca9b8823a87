import Foundation
import Testing
@testable import SwitchboardTesting

/// `switchboard serve` with its admin listener, driven by `switchboard admin`.
@Suite(.timeLimit(.minutes(1)))
struct AdminCommandTests {
    private static let token = "an-admin-token-for-tests"

    /// The admin port from `admin API listening on http://host:PORT`.
    private static func adminPort(_ server: SwitchboardProcess) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let stderr = server.stderr
            if let range = stderr.range(of: #"admin API listening on http://[^ ]+:(\d+)"#, options: .regularExpression),
               let port = stderr[range].split(separator: ":").last.flatMap({ Int($0) }) {
                return port
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RawTCPError("no admin listening line:\n\(server.stderr)")
    }

    @Test func adminCommandsDriveARunningNode() async throws {
        let server = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0", "--admin-port", "0", "--node", "admin-node"],
            environment: ["SWITCHBOARD_ADMIN_TOKEN": Self.token]
        )
        let port = try await server.listeningPort()
        let adminPort = try await Self.adminPort(server)
        #expect(adminPort != port)
        let url = "http://127.0.0.1:\(adminPort)"

        let first = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=7")
        defer { first.close() }
        let second = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=7")
        defer { second.close() }
        try await first.send(#"["1","1","room:lobby","phx_join",{}]"#)
        _ = try await first.receiveText()

        let stats = try await SwitchboardProcess.run(["admin", "stats", "--url", url, "--token", Self.token])
        #expect(stats.status == 0)
        #expect(stats.stdout.contains("admin-node"))
        #expect(stats.stdout.contains("connections  2\n"))
        #expect(stats.stdout.contains("channels     1\n"))
        #expect(stats.stdout.contains("state        serving, accepting connections"))

        let json = try await SwitchboardProcess.run(["admin", "stats", "--url", url, "--json"],
                                                    environment: ["SWITCHBOARD_ADMIN_TOKEN": Self.token])
        #expect(json.status == 0)
        #expect(json.stdout.hasPrefix("{"))
        #expect(json.stdout.contains(#""node":"admin-node""#))

        let cluster = try await SwitchboardProcess.run(["admin", "stats", "--cluster", "--url", url, "--token", Self.token])
        #expect(cluster.status == 0)
        let clusterLines = cluster.stdout.split(separator: "\n")
        #expect(clusterLines.first?.hasPrefix("node ") == true, "\(cluster.stdout)")
        #expect(clusterLines.contains { $0.hasPrefix("admin-node ") && $0.contains(" serving ") })
        #expect(clusterLines.last == "1 node(s), 2 connections (as heard by admin-node)")

        let rebalance = try await SwitchboardProcess.run(["admin", "rebalance", "--tolerance", "10%", "--over", "1s", "--url", url, "--token", Self.token])
        #expect(rebalance.status == 0)
        #expect(rebalance.stdout.hasPrefix("mean 2.0 connections per serving node; tolerance 10%; over 1s\n"), "\(rebalance.stdout)")
        #expect(rebalance.stdout.hasSuffix("shedding 0 connections in all\n"))
        let badTolerance = try await SwitchboardProcess.run(["admin", "rebalance", "--tolerance", "150%", "--url", url, "--token", Self.token])
        #expect(badTolerance.status != 0)
        #expect(badTolerance.stderr.contains("--tolerance must be a percentage"))

        let wrong = try await SwitchboardProcess.run(["admin", "stats", "--url", url, "--token", "wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("answered 401"))
        let missing = try await SwitchboardProcess.run(["admin", "stats", "--url", url])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: no admin token: pass --token or set SWITCHBOARD_ADMIN_TOKEN\n")

        let disconnect = try await SwitchboardProcess.run(["admin", "disconnect", "user_socket:7", "--url", url, "--token", Self.token])
        #expect(disconnect.status == 0)
        #expect(disconnect.stdout == "disconnected 2 connections with socket id user_socket:7 on this node, and asked the other nodes to do the same (close code 1001)\n")
        #expect(try await first.receive() == .close(code: 1001))

        let drain = try await SwitchboardProcess.run(["admin", "drain", "--over", "1s", "--url", url, "--token", Self.token])
        #expect(drain.status == 0)
        #expect(drain.stdout.hasPrefix("draining: /readyz answers 503"))
        #expect(try await PlainHTTP.request(port: port, path: "/readyz").status == 503)
        let undrain = try await SwitchboardProcess.run(["admin", "undrain", "--url", url, "--token", Self.token])
        #expect(undrain.stdout == "undrained: accepting connections again\n")
        #expect(try await PlainHTTP.request(port: port, path: "/readyz").status == 200)

        let shed = try await SwitchboardProcess.run(["admin", "shed", "--count", "5", "--over", "1s", "--url", url, "--token", Self.token])
        #expect(shed.status == 0)
        #expect(shed.stdout == "shedding 0 connections over 1s (close code 1012)\n")
        let both = try await SwitchboardProcess.run(["admin", "shed", "--count", "1", "--percent", "5", "--url", url, "--token", Self.token])
        #expect(both.status != 0)

        server.terminate()
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func sigtermDrainsOverTheConfiguredWindowThenExitsZero() async throws {
        let server = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0"],
            environment: ["SWITCHBOARD_DRAIN_ON_SHUTDOWN": "1s"]
        )
        let port = try await server.listeningPort()
        var sockets: [RawWebSocket] = []
        for user in 1...3 {
            sockets.append(try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=\(user)"))
        }
        defer { for socket in sockets { socket.close() } }
        let started = ContinuousClock.now
        server.terminate()
        // Readiness fails as soon as the signal is handled, while the sockets are being shed.
        var readiness = try await PlainHTTP.request(port: port, path: "/readyz").status
        while readiness == 200, ContinuousClock.now - started < .seconds(2) {
            try await Task.sleep(for: .milliseconds(10))
            readiness = try await PlainHTTP.request(port: port, path: "/readyz").status
        }
        #expect(readiness == 503)
        for socket in sockets {
            #expect(try await socket.receive() == .close(code: 1012))
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed > .milliseconds(500), "the closes are spread over the window: \(elapsed)")
        #expect(elapsed < .seconds(5), "the closes end with the window, not at the grace period: \(elapsed)")
        #expect(try await server.waitForExit(timeout: .seconds(10)) == 0)
        #expect(server.stderr.contains("draining"))
        #expect(server.stderr.contains("switchboard stopped"))
    }

    @Test func unreachableAdminAPIFailsWithOneLine() async throws {
        let result = try await SwitchboardProcess.run(["admin", "stats", "--url", "http://127.0.0.1:1", "--token", Self.token])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("Error: cannot reach the admin API at http://127.0.0.1:1"))
    }
}
