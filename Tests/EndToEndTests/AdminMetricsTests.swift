import Foundation
import Prometheus
import Switchboard
import SwitchboardClient
import Synchronization
import Testing

/// `GET /metrics` on the admin listener (and on the public one when asked),
/// in Prometheus text format.
@Suite("Metrics")
struct AdminMetricsTests {
    /// The value of the sample named exactly `series` (name and labels).
    private static func sample(_ page: String, _ series: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private static func scrape(_ server: SwitchboardServer) async throws -> RawHTTP.Response {
        try await AdminTestSupport.scrape(server)
    }

    /// `GET /metrics` on the public listener.
    private static func scrapePublic(_ server: SwitchboardServer, method: String = "GET") async throws -> RawHTTP.Response {
        try await RawHTTP.request(port: server.localPort!, method: method, path: "/metrics")
    }

    @Test func countsConnectsJoinsMessagesBroadcastsDeliveriesAndSheds() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let first = try await TestServer.client(server) { $0.reconnect = false }
            let second = try await TestServer.client(server, params: ["user_id": "2"]) { $0.reconnect = false }
            let firstRoom = first.channel("room:metrics")
            let secondRoom = second.channel("room:metrics")
            _ = try await firstRoom.join()
            _ = try await secondRoom.join()
            let refused = PhoenixClient(configuration: .init(port: server.localPort!, path: "/guarded/websocket", params: ["token": "no"], reconnect: false))
            await #expect(throws: (any Error).self) { try await refused.connect() }

            let published = try await RawHTTP.request(
                port: server.localPort!, method: "POST", path: "/api/broadcast",
                headers: ["Authorization: Bearer \(TestServer.apiKey)"],
                body: #"{"topic":"room:metrics","event":"news","payload":{}}"#
            )
            #expect(published.status == 202)
            _ = try await firstRoom.nextMessage(event: "news")
            _ = try await secondRoom.nextMessage(event: "news")

            let response = try await Self.scrape(server)
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let page = response.body
            #expect(page.contains("# TYPE switchboard_socket_connects_total counter"))
            #expect(Self.sample(page, "switchboard_connections") == 2)
            #expect(Self.sample(page, "switchboard_channels") == 2)
            #expect(Self.sample(page, "switchboard_topics") == 1)
            #expect(Self.sample(page, #"switchboard_socket_connects_total{status="ok",transport="websocket"}"#) == 2)
            #expect(Self.sample(page, #"switchboard_socket_connects_total{status="refused",transport="websocket"}"#) == 1)
            #expect(Self.sample(page, #"switchboard_channel_joins_total{status="ok"}"#) == 2)
            #expect(Self.sample(page, #"switchboard_channel_joins_total{status="refused"}"#) == 0)
            #expect(Self.sample(page, "switchboard_messages_in_total") == 2)  // the two joins
            #expect(Self.sample(page, "switchboard_broadcasts_total") == 1)
            #expect(Self.sample(page, "switchboard_deliveries_total") == 2)
            // Two join replies and two broadcast frames.
            #expect(Self.sample(page, "switchboard_frames_out_total") == 4)
            #expect(Self.sample(page, "switchboard_broadcast_fanout_seconds_count") ?? 0 >= 1)
            #expect(Self.sample(page, #"switchboard_node_state{state="serving"}"#) == 1)
            #expect(Self.sample(page, #"switchboard_node_state{state="draining"}"#) == 0)
            #expect(Self.sample(page, "switchboard_pubsub_connected") == 1)
            #expect(Self.sample(page, "switchboard_slow_consumer_closes_total") == 0)
            #expect(page.contains(#"switchboard_broadcast_fanout_seconds_bucket{le="+Inf"}"#))
            #expect(page.contains(#"switchboard_broadcast_fanout_seconds_bucket{le="1e-05"}"#)
                    || page.contains(#"switchboard_broadcast_fanout_seconds_bucket{le="0.00001"}"#))

            let shed = try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"count":1,"over":"0s"}"#)
            #expect(shed.json?["shedding"]?.intValue == 1)
            #expect(await AdminTestSupport.eventually { server.connectionCount == 1 })
            let after = try await Self.scrape(server).body
            #expect(Self.sample(after, #"switchboard_shed_connections_total{reason="operator"}"#) == 1)
            #expect(Self.sample(after, #"switchboard_shed_connections_total{reason="drain"}"#) == 0)
            #expect(Self.sample(after, "switchboard_connections") == 1)
            // The shed connection's channel is counted out with it.
            #expect(Self.sample(after, "switchboard_channels") == 1)
            await first.disconnect()
            await second.disconnect()
        }
    }

    @Test func metricsAreOnTheAdminListenerWithTheTokenAndNotOnThePublicOneByDefault() async throws {
        try await withServer(AdminTestSupport.configure) { server async throws in
            #expect(try await Self.scrapePublic(server).status == 404)
            #expect(try await Self.scrapePublic(server, method: "POST").status == 404)
            #expect(try await AdminTestSupport.request(server, path: "/metrics", token: nil).status == 401)
            #expect(try await AdminTestSupport.request(server, path: "/metrics", token: "wrong-token-wrong").status == 401)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/metrics").status == 405)
            let page = try await Self.scrape(server)
            #expect(page.status == 200)
            #expect(page.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(Self.sample(page.body, "switchboard_connections") == 0)
        }
    }

    @Test func thePublicListenerServesMetricsWhenAsked() async throws {
        try await withServer({ configuration in
            AdminTestSupport.configure(&configuration)
            configuration.metrics.onPublicListener = true
        }) { server async throws in
            let page = try await Self.scrapePublic(server)
            #expect(page.status == 200)
            #expect(Self.sample(page.body, "switchboard_connections") == 0)
            #expect(try await Self.scrapePublic(server, method: "POST").status == 405)
            #expect(try await Self.scrape(server).status == 200)
        }
    }

    @Test func everyMetricHasHelpAndTheProcessAndBuildAreDescribed() async throws {
        try await withServer({ configuration in
            AdminTestSupport.configure(&configuration)
            configuration.version = "9.8.7-test"
        }) { server async throws in
            let page = try await Self.scrape(server).body
            let lines = page.split(separator: "\n").map(String.init)
            var families: [String] = []
            for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
                let name = String(line.dropFirst("# TYPE ".count).split(separator: " ")[0])
                families.append(name)
                #expect(index > 0 && lines[index - 1].hasPrefix("# HELP \(name) "), "no # HELP line for \(name)")
            }
            // Every described metric is on the page, so the help table names no metric that is gone
            // (but the adapter's connections: the local adapter has none; see the next test).
            #expect(Set(families) == Set(PrometheusPage.help.keys).subtracting(["switchboard_pubsub_connection_up"]))
            #expect(page.contains(#"switchboard_build_info{version="9.8.7-test","#))
            #if os(Linux)
            let resident = try #require(Self.sample(page, "process_resident_memory_bytes"))
            #expect(resident > 1_000_000)
            #expect(try #require(Self.sample(page, "process_open_fds")) >= 3)
            #expect(try #require(Self.sample(page, "process_max_fds")) >= 64)
            #expect(try #require(Self.sample(page, "process_cpu_seconds_total")) > 0)
            let started = try #require(Self.sample(page, "process_start_time_seconds"))
            let now = Date().timeIntervalSince1970
            #expect(started <= now + 1 && started > now - 86_400, "start time \(started), now \(now)")
            #endif
        }
    }

    @Test func theNodeStateGaugeFollowsADrain() async throws {
        try await withServer(AdminTestSupport.configure) { server async throws in
            let drain = try await AdminTestSupport.request(server, method: "POST", path: "/drain", body: #"{"over":"0s"}"#)
            #expect(drain.status == 200)
            let page = try await Self.scrape(server).body
            #expect(Self.sample(page, #"switchboard_node_state{state="serving"}"#) == 0)
            let drainedOrDraining = (Self.sample(page, #"switchboard_node_state{state="drained"}"#) ?? 0)
                + (Self.sample(page, #"switchboard_node_state{state="draining"}"#) ?? 0)
            #expect(drainedOrDraining == 1)
        }
    }

    @Test func metricsGoToTheApplicationsFactoryAndTheEndpointIsOffWithoutARenderer() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withServer({ configuration in
            configuration.metrics = MetricsOptions(factory: PrometheusMetricsFactory(registry: registry))
            AdminTestSupport.configure(&configuration)
        }) { server async throws in
            #expect(try await Self.scrape(server).status == 404)
            #expect(try await Self.scrapePublic(server).status == 404)
            let client = try await TestServer.client(server)
            _ = try await client.channel("room:factory").join()
            await client.disconnect()
            // The channel join was recorded in the application's registry.
            var page: [UInt8] = []
            registry.emit(into: &page)
            let text = String(decoding: page, as: UTF8.self)
            #expect(Self.sample(text, #"switchboard_channel_joins_total{status="ok"}"#) == 1)
            #expect(Self.sample(text, #"switchboard_socket_connects_total{status="ok",transport="websocket"}"#) == 1)
        }
    }

    /// An adapter with the local adapter's behaviour and a status the test sets.
    private final class StatusAdapter: PubSubAdapter {
        private let local = LocalAdapter(nodeName: "status-node")
        let current = Mutex(AdapterStatus(name: "test", state: "connected"))
        var nodeName: String { local.nodeName }
        var status: AdapterStatus { current.withLock { $0 } }
        func start(deliver: @escaping @Sendable (PubSubMessage) -> Void, control: @escaping @Sendable (ControlMessage) -> Void) async throws {
            try await local.start(deliver: deliver, control: control)
        }
        func sendControl(_ message: ControlMessage, to node: String?) async throws { try await local.sendControl(message, to: node) }
        func shutdown() async { await local.shutdown() }
        func broadcast(_ message: PubSubMessage) async throws { try await local.broadcast(message) }
        func directBroadcast(to node: String, _ message: PubSubMessage) async throws { try await local.directBroadcast(to: node, message) }
        func topicActivated(_ topic: String) async throws { try await local.topicActivated(topic) }
        func topicDeactivated(_ topic: String) async { await local.topicDeactivated(topic) }
    }

    @Test func eachAdapterConnectionHasItsGaugeUntilTheAdapterNoLongerListsIt() async throws {
        let adapter = StatusAdapter()
        adapter.current.withLock {
            $0 = AdapterStatus(name: "test", state: "reconnecting", detail: "shard 10.0.0.22:6379 subscriber: connection closed", connections: [
                .init(name: "shard 10.0.0.21:6379 subscriber", state: "connected"),
                .init(name: "shard 10.0.0.22:6379 subscriber", state: "reconnecting", detail: "connection closed"),
            ])
        }
        try await withServer(adapter: adapter, AdminTestSupport.configure) { server in
            let page = try await Self.scrape(server).body
            #expect(page.contains("# HELP switchboard_pubsub_connection_up 1 while"))
            #expect(page.contains("# TYPE switchboard_pubsub_connection_up gauge"))
            #expect(Self.sample(page, "switchboard_pubsub_connected") == 0)
            #expect(Self.sample(page, #"switchboard_pubsub_connection_up{connection="shard 10.0.0.21:6379 subscriber"}"#) == 1)
            #expect(Self.sample(page, #"switchboard_pubsub_connection_up{connection="shard 10.0.0.22:6379 subscriber"}"#) == 0)
            let health = try await RawHTTP.request(port: server.localPort!, path: "/healthz")
            let connections = (try? JSONValue(parsing: health.body))?["pubsub"]?["connections"]?.arrayValue ?? []
            #expect(connections.count == 2)
            #expect(connections.last?["detail"]?.stringValue == "connection closed")

            // The second shard's master left the map: its connection is gone from the page.
            adapter.current.withLock {
                $0 = AdapterStatus(name: "test", state: "connected", connections: [.init(name: "shard 10.0.0.21:6379 subscriber", state: "connected")])
            }
            let after = try await Self.scrape(server).body
            #expect(Self.sample(after, "switchboard_pubsub_connected") == 1)
            #expect(Self.sample(after, #"switchboard_pubsub_connection_up{connection="shard 10.0.0.21:6379 subscriber"}"#) == 1)
            #expect(!after.contains("10.0.0.22"))
            let stats = try await AdminTestSupport.request(server, method: "GET", path: "/stats")
            #expect(stats.json?["pubsub"]?["connections"]?.arrayValue?.count == 1)
        }
    }
}
