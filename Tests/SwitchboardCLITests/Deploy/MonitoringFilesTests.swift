import Foundation
import Testing
import Yams
@testable import SwitchboardTesting

/// The Grafana dashboard and the Prometheus alert rules in `deploy/` name
/// only metrics that `switchboard serve` exports.
@Suite("Monitoring files")
struct MonitoringFilesTests {
    static let dashboard = "deploy/grafana/switchboard.json"
    static let alerts = "deploy/prometheus/alerts.yml"

    /// Every `switchboard_*` and `process_*` name in `text`.
    static func metricNames(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: "(?<![A-Za-z0-9_])(?:switchboard|process)_[a-z0-9_]+")
        let range = NSRange(text.startIndex..., in: text)
        return Set(pattern.matches(in: text, range: range).map { String(text[Range($0.range, in: text)!]) })
    }

    /// The sample names (`name` of `name{labels} value`) of a Prometheus page.
    static func sampleNames(in page: String) -> Set<String> {
        Set(page.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            line.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
        })
    }

    /// The `/metrics` page, from its admin listener, of a `switchboard serve`
    /// on the Redis adapter (whose metrics are the local adapter's and the
    /// adapter's own), once it shows the adapter's connections.
    static func servedMetrics() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("monitoring-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let redisPort = try LoopbackPorts.free()
        let redis = try await BackgroundProcess.redisServer(port: redisPort, directory: directory)
        defer { redis.kill() }

        let token = "monitoring-files-test-token"
        let node = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0", "--admin-port", "0", "--adapter", "redis", "--redis-url", "redis://127.0.0.1:\(redisPort)"],
            environment: ["SWITCHBOARD_ADMIN_TOKEN": token]
        )
        defer { node.terminate() }
        let deadline = ContinuousClock.now + .seconds(20)
        var page = ""
        while ContinuousClock.now < deadline {
            if let range = node.stderr.range(of: #"admin API listening on http://[^ ]+:\d+"#, options: .regularExpression),
               let port = node.stderr[range].split(separator: ":").last.flatMap({ Int($0) }) {
                let response = try await PlainHTTP.request(port: port, path: "/metrics", headers: ["Authorization": "Bearer \(token)"])
                #expect(response.status == 200)
                page = response.body
                // The adapter's state reaches the metrics within a second of the start.
                if page.contains("switchboard_pubsub_connection_up{") { return page }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RawTCPError("no admin listener showing the adapter's connections within 20 s:\n\(node.stderr)\n\(page)")
    }

    @Test("every metric the dashboard and the alert rules name is one the server exports")
    func namesExist() async throws {
        let exported = Self.sampleNames(in: try await Self.servedMetrics())
        #expect(exported.contains("switchboard_connections"), "the scrape found the server's metrics: \(exported.sorted())")
        for file in [Self.dashboard, Self.alerts] {
            let named = Self.metricNames(in: try DeployFiles.text(file))
            #expect(named.count >= 5, "\(file) names metrics")
            for name in named.sorted() {
                #expect(exported.contains(name), "\(file) names \(name), which /metrics does not show")
            }
        }
    }

    @Test("the alert rules cover an adapter down, a guarded node, the shed rate and slow consumers")
    func alertRules() throws {
        let rules = try #require(try Yams.load(yaml: try DeployFiles.text(Self.alerts)) as? [String: Any])
        let groups = try #require(rules["groups"] as? [[String: Any]])
        let all = groups.flatMap { ($0["rules"] as? [[String: Any]]) ?? [] }
        var expressions: [String: String] = [:]
        for rule in all {
            let name = try #require(rule["alert"] as? String)
            expressions[name] = try #require(rule["expr"] as? String, "\(name) has an expr")
            let labels = rule["labels"] as? [String: Any]
            #expect(["critical", "warning", "info"].contains(labels?["severity"] as? String ?? ""), "\(name) has a severity")
            #expect((rule["annotations"] as? [String: Any])?["summary"] is String, "\(name) has a summary")
        }
        #expect(expressions["SwitchboardPubSubDown"]?.contains("switchboard_pubsub_connected") == true)
        #expect(expressions["SwitchboardNodeGuarded"]?.contains(#"switchboard_node_state{state="guarded"}"#) == true)
        #expect(expressions["SwitchboardShedRateHigh"]?.contains("switchboard_shed_connections_total") == true)
        #expect(expressions["SwitchboardSlowConsumers"]?.contains("switchboard_slow_consumer_closes_total") == true)
    }

    @Test("the dashboard is Grafana JSON whose every panel queries Prometheus")
    func dashboard() throws {
        let data = Data(try DeployFiles.text(Self.dashboard).utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["title"] as? String == "Switchboard")
        let panels = try #require(json["panels"] as? [[String: Any]])
        let queried = panels.filter { $0["type"] as? String != "row" }
        #expect(queried.count >= 10)
        var ids: Set<Int> = []
        for panel in queried {
            let title = panel["title"] as? String ?? "?"
            let targets = try #require(panel["targets"] as? [[String: Any]], "\(title) has targets")
            #expect(!targets.isEmpty && targets.allSatisfy { !($0["expr"] as? String ?? "").isEmpty }, "\(title) has queries")
            if let id = panel["id"] as? Int { #expect(ids.insert(id).inserted, "panel id \(id) is unique") }
        }
    }
}
