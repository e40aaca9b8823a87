import Foundation
import Prometheus
import Switchboard
import SwitchboardClient
import Testing

/// `GET /metrics` on the public port, in Prometheus text format.
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
        try await RawHTTP.request(port: server.localPort!, path: "/metrics")
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

    @Test func metricsIsNotOnTheAdminPortAndRefusesPOST() async throws {
        try await withServer(AdminTestSupport.configure) { server async throws in
            #expect(try await AdminTestSupport.request(server, path: "/metrics").status == 404)
            #expect(try await RawHTTP.request(port: server.localPort!, method: "POST", path: "/metrics").status == 405)
        }
    }

    @Test func metricsGoToTheApplicationsFactoryAndTheEndpointIsOffWithoutARenderer() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withServer({ configuration in
            configuration.metrics = MetricsOptions(factory: PrometheusMetricsFactory(registry: registry))
        }) { server async throws in
            #expect(try await Self.scrape(server).status == 404)
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
}
