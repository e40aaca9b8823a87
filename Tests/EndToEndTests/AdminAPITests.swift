import Foundation
import Switchboard
import SwitchboardClient
import Testing

/// The admin listener: authorization, stats, disconnect by id, draining.
@Suite("Admin API")
struct AdminAPITests {
    private let upgradeHeaders = [
        "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]

    @Test func requiresTheAdminTokenAndIsNotThePublicPort() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let adminPort = try #require(server.adminPort)
            #expect(adminPort != server.localPort)
            let none = try await AdminTestSupport.request(server, path: "/stats", token: nil)
            #expect(none.status == 401)
            let wrong = try await AdminTestSupport.request(server, path: "/stats", token: "admin-test-tokeN")
            #expect(wrong.status == 401)
            let shedWithoutToken = try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"count":1}"#, token: nil)
            #expect(shedWithoutToken.status == 401)
            // The public port does not serve the admin API, even with the token.
            let onPublic = try await RawHTTP.request(port: server.localPort!, path: "/stats",
                                                     headers: ["Authorization: Bearer \(AdminTestSupport.token)"])
            #expect(onPublic.status == 404)

            let client = try await TestServer.client(server)
            _ = try await client.channel("room:stats").join()
            let stats = try await AdminTestSupport.request(server, path: "/stats")
            #expect(stats.status == 200)
            let json = try #require(stats.json)
            #expect(json["node"]?.stringValue == server.nodeName)
            #expect(json["version"]?.stringValue == SwitchboardVersion.current)
            #expect(json["connections"]?.intValue == 1)
            #expect(json["channels"]?.intValue == 1)
            #expect(json["topics"]?.intValue == 1)
            #expect(json["state"]?.stringValue == "serving")
            #expect(json["pubsub"]?["adapter"]?.stringValue == "local")
            #expect((json["uptime_seconds"]?.doubleValue ?? -1) >= 0)
            #expect(try await AdminTestSupport.request(server, path: "/nothing").status == 404)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"count":-1}"#).status == 400)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"count":1,"over":"soon"}"#).status == 400)
            await client.disconnect()
        }
    }

    @Test func noTokenNoAdminListener() async throws {
        try await withServer { server in
            #expect(server.adminPort == nil)
        }
    }

    @Test func disconnectClosesEverySessionOfASocketID() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let first = try await TestServer.client(server, params: ["user_id": "7"]) { $0.reconnect = false }
            let second = try await TestServer.client(server, params: ["user_id": "7"]) { $0.reconnect = false }
            let other = try await TestServer.client(server, params: ["user_id": "8"]) { $0.reconnect = false }
            let response = try await AdminTestSupport.request(server, method: "POST", path: "/disconnect", body: #"{"id":"user_socket:7"}"#)
            #expect(response.status == 200)
            #expect(response.json?["disconnected"]?.intValue == 2)
            #expect(try await first.nextClose().code == 1001)
            #expect(try await second.nextClose().code == 1001)
            #expect(await AdminTestSupport.eventually { server.connectionCount == 1 })
            #expect(await other.isConnected)
            let missing = try await AdminTestSupport.request(server, method: "POST", path: "/disconnect", body: #"{"id":"user_socket:404"}"#)
            #expect(missing.json?["disconnected"]?.intValue == 0)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/disconnect", body: "{}").status == 400)
            await other.disconnect()
        }
    }

    @Test func drainRefusesNewSocketsShedsAllAndUndrainRestores() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let port = server.localPort!
            let clients = try await AdminTestSupport.connectClients(server, count: 20, topic: "room:drain", reconnect: false)
            #expect(server.connectionCount == 20)
            let started = ContinuousClock.now
            let drain = try await AdminTestSupport.request(server, method: "POST", path: "/drain", body: #"{"over":"2s"}"#)
            #expect(drain.status == 200)
            #expect(drain.json?["shedding"]?.intValue == 20)
            #expect(try await AdminTestSupport.request(server, path: "/stats").json?["state"]?.stringValue == "draining")
            #expect(try await RawHTTP.request(port: port, path: "/readyz").status == 503)
            let refused = try await RawHTTP.request(port: port, path: "/socket/websocket?vsn=2.0.0", headers: upgradeHeaders)
            #expect(refused.status == 503)
            #expect(await AdminTestSupport.eventually(timeout: .seconds(4)) { server.connectionCount == 0 })
            #expect(ContinuousClock.now - started < .milliseconds(3500))
            // Spread over the window, not all at once.
            #expect(ContinuousClock.now - started > .milliseconds(1500))
            for (client, _) in clients {
                #expect(try await client.nextClose().code == 1012)
            }
            let stats = try await AdminTestSupport.request(server, path: "/stats")
            #expect(stats.json?["state"]?.stringValue == "drained")
            #expect(stats.json?["accepting"]?.boolValue == false)

            let undrain = try await AdminTestSupport.request(server, method: "POST", path: "/undrain")
            #expect(undrain.status == 200)
            #expect(try await RawHTTP.request(port: port, path: "/readyz").status == 200)
            let accepted = try await RawHTTP.request(port: port, path: "/socket/websocket?vsn=2.0.0", headers: upgradeHeaders)
            #expect(accepted.status == 101)
            #expect(try await AdminTestSupport.request(server, path: "/stats").json?["state"]?.stringValue == "serving")
        }
    }

    @Test func undrainCancelsTheRestOfADrain() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let clients = try await AdminTestSupport.connectClients(server, count: 10, topic: "room:undrain", reconnect: false)
            _ = try await AdminTestSupport.request(server, method: "POST", path: "/drain", body: #"{"over":"4s"}"#)
            try await Task.sleep(for: .milliseconds(500))
            _ = try await AdminTestSupport.request(server, method: "POST", path: "/undrain")
            try await Task.sleep(for: .seconds(1))
            // Some were shed before the undrain (how many depends on how busy
            // the machine is); the rest stay past the end of the drain window.
            let left = server.connectionCount
            #expect(left >= 1 && left <= 9)
            try await Task.sleep(for: .seconds(3))
            #expect(server.connectionCount == left)
            for (client, _) in clients { await client.disconnect() }
        }
    }
}
