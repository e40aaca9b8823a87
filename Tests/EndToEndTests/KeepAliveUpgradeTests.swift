import Foundation
import Switchboard
import Testing

/// A WebSocket upgrade on a later request of a keep-alive connection, as
/// clients that pool connections (Node's fetch and WebSocket, proxies that
/// reuse upstream connections) send it: it is upgraded as on a first request,
/// and a refused one still gets its status.
@Suite("Keep-alive upgrades", .timeLimit(.minutes(2)))
struct KeepAliveUpgradeTests {
    static let socketPath = "/socket/websocket?vsn=2.0.0&user_id=7"

    /// After the upgrade: a join is answered and a broadcast arrives.
    static func joinAndReceive(_ connection: inout KeepAliveConnection, server: SwitchboardServer, topic: String) async throws {
        try await connection.sendText(#"["1","1","\#(topic)","phx_join",{}]"#)
        let reply = try await connection.readFrame()
        #expect(reply.opcode == 0x1)
        #expect(reply.text.contains(#""phx_reply""#) && reply.text.contains(#""status":"ok""#), "\(reply.text)")
        try await server.pubsub.broadcast(topic: topic, event: "news", payload: .json(["n": 1]))
        let news = try await connection.readFrame()
        #expect(news.text.contains(#""news""#), "\(news.text)")
    }

    @Test func anUpgradeAfterABroadcastRequestOnTheSameConnection() async throws {
        try await withServer { server in
            let port = server.localPort!
            try await KeepAliveConnection.with(port: port) { connection in
                try await connection.send(KeepAliveConnection.request(
                    port: port, method: "POST", path: "/api/broadcast",
                    headers: ["x-api-key: \(TestServer.apiKey)", "Content-Type: application/json"],
                    body: #"{"topic":"room:keepalive","event":"hello","payload":{}}"#
                ))
                let broadcast = try await connection.readResponse()
                #expect(broadcast.status == 202)
                #expect(broadcast.header("connection") == "keep-alive")

                try await connection.send(KeepAliveConnection.upgradeRequest(port: port, path: Self.socketPath))
                let upgrade = try await connection.readResponse()
                #expect(upgrade.status == 101)
                #expect(upgrade.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                #expect(await AdminTestSupport.eventually { server.connectionCount == 1 })
                try await Self.joinAndReceive(&connection, server: server, topic: "room:keepalive")
            }
        }
    }

    @Test func anUpgradeAfterHealthChecks() async throws {
        try await withServer { server in
            let port = server.localPort!
            try await KeepAliveConnection.with(port: port) { connection in
                for _ in 0..<2 {
                    try await connection.send(KeepAliveConnection.request(port: port, path: "/healthz"))
                    #expect(try await connection.readResponse().status == 200)
                }
                try await connection.send(KeepAliveConnection.upgradeRequest(port: port, path: Self.socketPath))
                #expect(try await connection.readResponse().status == 101)
                try await Self.joinAndReceive(&connection, server: server, topic: "room:health")
            }
        }
    }

    @Test func aPipelinedUpgradeWaitsForTheResponseBeforeIt() async throws {
        try await withServer { server in
            let port = server.localPort!
            try await KeepAliveConnection.with(port: port) { connection in
                // Both requests in one write: the health check is answered
                // first, then the connection upgrades.
                try await connection.send(
                    KeepAliveConnection.request(port: port, path: "/healthz")
                        + KeepAliveConnection.upgradeRequest(port: port, path: Self.socketPath)
                )
                #expect(try await connection.readResponse().status == 200)
                #expect(try await connection.readResponse().status == 101)
                try await Self.joinAndReceive(&connection, server: server, topic: "room:pipelined")
            }
        }
    }

    @Test func aRefusedOriginAfterARequestIsAnswered403() async throws {
        try await withSecurityServer(openCheckOrigin: .conn) { server async throws in
            let port = server.port
            try await KeepAliveConnection.with(port: port) { connection in
                try await connection.send(KeepAliveConnection.request(port: port, path: "/healthz"))
                #expect(try await connection.readResponse().status == 200)
                try await connection.send(KeepAliveConnection.upgradeRequest(
                    port: port, path: "/open/websocket?vsn=2.0.0", headers: ["Origin: http://evil.example"]
                ))
                let refused = try await connection.readResponse()
                #expect(refused.status == 403)
                #expect(refused.body.isEmpty)
                #expect(refused.header("connection") == "close")
                #expect(try await connection.readToClose().isEmpty, "the server closes after a refusal")
            }
            #expect(server.logs.lines(containing: "socket origin refused").count == 1)
            #expect(server.server.connectionCount == 0)
        }
    }

    @Test func anUpgradeWhileDrainingAfterARequestIsAnswered503() async throws {
        try await withServer { server in
            let port = server.localPort!
            try await KeepAliveConnection.with(port: port) { connection in
                try await connection.send(KeepAliveConnection.request(port: port, path: "/readyz"))
                #expect(try await connection.readResponse().status == 200)
                await server.drain(over: .milliseconds(10))
                try await connection.send(KeepAliveConnection.upgradeRequest(port: port, path: Self.socketPath))
                #expect(try await connection.readResponse().status == 503)
            }
        }
    }

    @Test func aPlainRequestToTheSocketPathAfterARequestIsAnswered400() async throws {
        try await withServer { server in
            let port = server.localPort!
            try await KeepAliveConnection.with(port: port) { connection in
                try await connection.send(KeepAliveConnection.request(port: port, path: "/healthz"))
                #expect(try await connection.readResponse().status == 200)
                try await connection.send(KeepAliveConnection.request(port: port, path: Self.socketPath))
                let refused = try await connection.readResponse()
                #expect(refused.status == 400)
                #expect(refused.header("connection") == "close")
            }
        }
    }
}
