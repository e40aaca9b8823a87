import Foundation
import Switchboard
import SwitchboardClient
import Synchronization
import Testing

/// The automatic policies (connection age, resource guard) and the cluster
/// topic's protection, on one node.
@Suite("Admin policies")
struct AdminPolicyTests {
    @Test(.timeLimit(.minutes(1)))
    func connectionsPastTheirAgeAreShedWithCode1012() async throws {
        try await withServer({ configuration in
            AdminTestSupport.configure(&configuration)
            // Long enough that connecting 20 clients on a loaded machine ends well before the first is due.
            configuration.maxConnectionAge = ConnectionAgeLimit(age: .seconds(6), jitter: .milliseconds(500))
        }) { server in
            let clients = try await AdminTestSupport.connectClients(server, count: 20, topic: "room:age", reconnect: false)
            let codes = Mutex<[UInt16?]>([])
            for (client, _) in clients {
                client.onClose { info in codes.withLock { $0.append(info.code) } }
            }
            try await Task.sleep(for: .milliseconds(1000))
            #expect(server.connectionCount == 20, "nothing is shed before 5.5 s")
            #expect(await AdminTestSupport.eventually(timeout: .seconds(12)) { server.connectionCount == 0 })
            #expect(await AdminTestSupport.eventually { codes.withLock { $0.count } == 20 })
            #expect(codes.withLock { $0 }.allSatisfy { $0 == 1012 })
            let metrics = try await AdminTestSupport.scrape(server)
            #expect(metrics.body.contains(#"switchboard_shed_connections_total{reason="max_age"} 20"#))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theResourceGuardRefusesAndShedsDownToItsLowWaterMarkThenLetsGo() async throws {
        try await withServer({ configuration in
            AdminTestSupport.configure(&configuration)
            // Sustained for 2 s, so the 30 clients are all in before it engages.
            configuration.resourceGuard = ResourceGuard(maxConnections: 20, sustain: .seconds(2), shedRate: 4)
        }) { server in
            let port = try #require(server.localPort)
            let clients = try await AdminTestSupport.connectClients(server, count: 30, topic: "room:guard", reconnect: false)
            // Engaged within a few seconds: not ready, upgrades refused.
            #expect(await AdminTestSupport.eventually(timeout: .seconds(6)) {
                (try? await RawHTTP.request(port: port, path: "/readyz").status) == 503
            })
            let stats = try await AdminTestSupport.request(server, path: "/stats")
            #expect(stats.json?["state"]?.stringValue == "guarded")
            await #expect(throws: (any Error).self) {
                try await TestServer.client(server) { $0.reconnect = false }
            }
            // Shed at 4 a second down to 95 % of 20, then connections are taken again.
            #expect(await AdminTestSupport.eventually(timeout: .seconds(10)) { server.connectionCount <= 19 })
            #expect(server.connectionCount >= 15, "shedding stops near the low-water mark: \(server.connectionCount)")
            #expect(await AdminTestSupport.eventually(timeout: .seconds(3)) {
                (try? await RawHTTP.request(port: port, path: "/readyz").status) == 200
            })
            let late = try await TestServer.client(server) { $0.reconnect = false }
            let metrics = try await AdminTestSupport.scrape(server)
            #expect(metrics.body.contains(#"switchboard_shed_connections_total{reason="resource_guard"}"#))
            await late.disconnect()
            for (client, _) in clients { await client.disconnect() }
        }
    }

    /// A single node whose adapter keeps one topic for itself, as the
    /// Redis adapter keeps the one its control messages travel as.
    struct ReservingAdapter: PubSubAdapter {
        let local = LocalAdapter(nodeName: "reserving")
        var nodeName: String { local.nodeName }
        var status: AdapterStatus { local.status }
        var reservedTopics: Set<String> { ["switchboard:cluster"] }
        func start(deliver: @escaping @Sendable (PubSubMessage) -> Void, control: @escaping @Sendable (ControlMessage) -> Void) async throws {}
        func shutdown() async {}
        func broadcast(_ message: PubSubMessage) async throws {}
        func directBroadcast(to node: String, _ message: PubSubMessage) async throws {}
        func sendControl(_ message: ControlMessage, to node: String?) async throws {}
        func topicActivated(_ topic: String) async throws {}
        func topicDeactivated(_ topic: String) async {}
    }

    @Test func anAdaptersReservedTopicCannotBeJoinedOrBroadcastTo() async throws {
        try await withServer(adapter: ReservingAdapter()) { server in
            let client = try await TestServer.client(server) { $0.reconnect = false }
            await #expect(throws: (any Error).self) {
                try await client.channel("switchboard:cluster").join()
            }
            _ = try await client.channel("switchboard:lobby").join()
            let refused = try await RawHTTP.request(
                port: server.localPort!, method: "POST", path: "/api/broadcast",
                headers: ["x-api-key: \(TestServer.apiKey)", "Content-Type: application/json"],
                body: #"{"topic":"switchboard:cluster","event":"disconnect","payload":{"id":"user_socket:1"}}"#
            )
            #expect(refused.status == 403)
            #expect(refused.body.contains("reserved"))
            await #expect(throws: PubSubError.self) {
                try await server.pubsub.broadcast(topic: "switchboard:cluster", event: "disconnect", payload: .json([:]))
            }
            await client.disconnect()
        }
    }

    @Test func withTheLocalAdapterNoTopicIsReserved() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server) { $0.reconnect = false }
            _ = try await client.channel("switchboard:cluster").join()
            await client.disconnect()
        }
    }

    @Test func metricsCountPubSubTraffic() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let metrics = try await AdminTestSupport.scrape(server)
            for name in ["published", "received", "dropped", "reconnects"] {
                #expect(metrics.body.contains("switchboard_pubsub_\(name)_total"), "missing switchboard_pubsub_\(name)_total")
            }
        }
    }
}
