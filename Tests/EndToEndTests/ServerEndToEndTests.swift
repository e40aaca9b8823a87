import NIOCore
import Switchboard
import SwitchboardClient
import Testing

/// The HTTP surface, connect refusals, shutdown and reconnects.
@Suite("Server end to end")
struct ServerEndToEndTests {
    private let upgradeHeaders = [
        "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]

    @Test func healthAndReadiness() async throws {
        try await withServer { server in
            let port = server.localPort!
            let health = try await RawHTTP.request(port: port, path: "/healthz")
            #expect(health.status == 200)
            let json = try JSONValue(parsing: health.body.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(json["status"] == "ok")
            #expect(json["node"]?.stringValue == server.nodeName)
            #expect(json["pubsub"]?["adapter"] == "local")
            #expect(try await RawHTTP.request(port: port, path: "/readyz").status == 200)
            #expect(try await RawHTTP.request(port: port, path: "/nothing-here").status == 404)
        }
    }

    @Test func upgradeRefusals() async throws {
        try await withServer { server in
            let port = server.localPort!
            let unknownVsn = try await RawHTTP.request(port: port, path: "/socket/websocket?vsn=9.9.9", headers: upgradeHeaders)
            #expect(unknownVsn.status == 400)
            let post = try await RawHTTP.request(port: port, method: "POST", path: "/socket/websocket?vsn=2.0.0", headers: upgradeHeaders)
            #expect(post.status == 400)
            let notUpgrade = try await RawHTTP.request(port: port, path: "/socket/websocket?vsn=2.0.0")
            #expect(notUpgrade.status == 400)
            let refused = try await RawHTTP.request(port: port, path: "/guarded/websocket?vsn=2.0.0&token=wrong", headers: upgradeHeaders)
            #expect(refused.status == 403)
            #expect(refused.body.isEmpty)
            let accepted = try await RawHTTP.request(port: port, path: "/guarded/websocket?vsn=2.0.0&token=let-me-in", headers: upgradeHeaders)
            #expect(accepted.status == 101)
            #expect(accepted.header("Sec-WebSocket-Protocol") == nil)
        }
    }

    @Test func phoenixSubprotocolIsAnswered() async throws {
        try await withServer { server in
            let response = try await RawHTTP.request(
                port: server.localPort!, path: "/socket/websocket?vsn=2.0.0",
                headers: upgradeHeaders + ["Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9rZW4"]
            )
            #expect(response.status == 101)
            #expect(response.header("Sec-WebSocket-Protocol") == "phoenix")
        }
    }

    @Test func clientSeesRefusedConnectAs403() async throws {
        try await withServer { server in
            let client = PhoenixClient(configuration: .init(port: server.localPort!, path: "/guarded/websocket", params: ["token": "no"], reconnect: false))
            await #expect {
                try await client.connect()
            } throws: { error in
                (error as? ClientError)?.httpStatus == 403
            }
        }
    }

    @Test func broadcastAPI() async throws {
        try await withServer { server in
            let port = server.localPort!
            let client = try await TestServer.client(server)
            let room = client.channel("room:api")
            _ = try await room.join()
            let body = #"{"topic":"room:api","event":"news","payload":{"headline":"hello"}}"#
            let noKey = try await RawHTTP.request(port: port, method: "POST", path: "/api/broadcast", body: body)
            #expect(noKey.status == 401)
            let wrongKey = try await RawHTTP.request(port: port, method: "POST", path: "/api/broadcast", headers: ["Authorization: Bearer nope"], body: body)
            #expect(wrongKey.status == 401)
            let bad = try await RawHTTP.request(port: port, method: "POST", path: "/api/broadcast",
                                                headers: ["Authorization: Bearer \(TestServer.apiKey)"], body: #"{"topic":1}"#)
            #expect(bad.status == 400)
            let ok = try await RawHTTP.request(port: port, method: "POST", path: "/api/broadcast",
                                               headers: ["x-api-key: \(TestServer.apiKey)"], body: body)
            #expect(ok.status == 202)
            let message = try await room.nextMessage(event: "news")
            #expect(message.payload == .json(["headline": "hello"]))
            #expect(message.joinRef == nil)
            await client.disconnect()
        }
    }

    @Test func broadcastAPIIsDisabledWithoutAKey() async throws {
        try await withServer({ $0.apiKey = nil }) { server in
            let response = try await RawHTTP.request(port: server.localPort!, method: "POST", path: "/api/broadcast",
                                                     headers: ["Authorization: Bearer x"], body: "{}")
            #expect(response.status == 403)
        }
    }

    @Test func shutdownClosesSocketsWith1012() async throws {
        let server = try await TestServer.start()
        let client = try await TestServer.client(server) { $0.reconnect = false }
        _ = try await client.channel("room:bye").join()
        async let closed = client.nextClose(timeout: .seconds(5))
        await server.shutdown()
        let close = try await closed
        #expect(close.code == 1012)
    }

    @Test func clientReconnectsAndRejoinsAfterServerRestart() async throws {
        let first = try await TestServer.start()
        let port = first.localPort!
        let client = try await TestServer.client(first)
        let room = client.channel("room:restart")
        _ = try await room.join()
        let firstJoinRef = await room.joinRef

        await first.shutdown()
        #expect(try await client.nextClose().code == 1012)

        let second = try await TestServer.start(port: port)
        do {
            try await client.nextOpen(timeout: .seconds(10))
            // Wait until the channel has rejoined on the new server.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let rejoined = await room.state == .joined
                let joinRef = await room.joinRef
                if rejoined && joinRef != firstJoinRef { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let state = await room.state
            #expect(state == .joined)
            try await second.pubsub.broadcast(topic: "room:restart", event: "back", payload: .json(["ok": true]))
            #expect(try await room.nextMessage(event: "back").payload == .json(["ok": true]))
            await client.disconnect()
            await second.shutdown()
        } catch {
            await second.shutdown()
            throw error
        }
    }
}

import Foundation
