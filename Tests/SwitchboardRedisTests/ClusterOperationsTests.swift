import Foundation
import Switchboard
import SwitchboardClient
@testable import SwitchboardRedis
import Synchronization
import Testing

/// The cluster view, rebalance and cluster-wide disconnect, through the admin
/// API of in-process nodes on one real redis-server (and a real haproxy).
@Suite("Cluster operations", .serialized)
struct ClusterOperationsTests {
    static let token = "cluster-admin-token"

    /// Admin on a free port, and reports every 100 ms so tests run fast.
    static func configure(_ configuration: inout ServerConfiguration) {
        configuration.admin.port = 0
        configuration.admin.token = token
        configuration.clusterReportInterval = .milliseconds(100)
    }

    static func admin(_ server: SwitchboardServer, _ path: String, method: String = "GET", body: String? = nil) async throws -> (status: Int, json: JSONValue?) {
        try await HTTPPost.request(port: server.adminPort!, method: method, path: path, bearer: token, body: body)
    }

    /// Node name → connections, as `server` sees the cluster.
    static func view(_ server: SwitchboardServer) async throws -> [String: Int] {
        let nodes = try await admin(server, "/cluster").json?["nodes"]?.arrayValue ?? []
        return Dictionary(uniqueKeysWithValues: nodes.compactMap { node in
            node["node"]?.stringValue.map { ($0, node["connections"]?.intValue ?? -1) }
        })
    }

    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return try await condition()
    }

    /// `count` clients of the node on `port`, each joined to one of `topics` topics.
    static func clients(port: Int, count: Int, topics: Int, reconnect: Bool) async throws -> [(PhoenixClient, ClientChannel)] {
        try await withThrowingTaskGroup(of: (PhoenixClient, ClientChannel).self) { group in
            var clients: [(PhoenixClient, ClientChannel)] = []
            for index in 0..<count {
                if index >= 16, let next = try await group.next() { clients.append(next) }
                group.addTask {
                    var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: port, params: ["user_id": "\(index)"], heartbeatInterval: nil)
                    configuration.reconnect = reconnect
                    let client = PhoenixClient(configuration: configuration)
                    try await client.connect()
                    let channel = client.channel("room:\(index % topics)")
                    _ = try await channel.join()
                    return (client, channel)
                }
            }
            for try await next in group { clients.append(next) }
            return clients
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func everyNodeSeesTheOthersAndForgetsAStoppedOne() async throws {
        try await TestCluster.with(nodes: 3, configureServer: Self.configure) { cluster in
            let a = cluster.servers[0]
            #expect(try await Self.eventually { try await Self.view(a).keys.sorted() == ["node-a", "node-b", "node-c"] })
            let (client, _) = try await cluster.joined(1, "room:view")
            func nodeB() async throws -> JSONValue? {
                try await Self.admin(a, "/cluster").json?["nodes"]?.arrayValue?.first { $0["node"]?.stringValue == "node-b" }
            }
            // A report can be taken between the connect and the join: wait for one with both.
            #expect(try await Self.eventually {
                let node = try await nodeB()
                return node?["connections"]?.intValue == 1 && node?["channels"]?.intValue == 1
            })
            let node = try #require(try await nodeB())
            #expect(node["state"]?.stringValue == "serving")
            #expect(node["pubsub_state"]?.stringValue == "connected")

            let stopped = ContinuousClock.now
            await cluster.servers[2].shutdown()
            #expect(try await Self.eventually(timeout: .seconds(3)) { try await Self.view(a)["node-c"] == nil })
            // Forgotten after five missed reports (100 ms apart; the last came at
            // most 100 ms before the shutdown began), not at the first.
            #expect(ContinuousClock.now - stopped >= .milliseconds(400))
            #expect(try await Self.view(a).keys.sorted() == ["node-a", "node-b"])
            await client.disconnect()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func disconnectClosesTheSessionsOfASocketIDOnEveryNode() async throws {
        try await TestCluster.with(nodes: 2, configureServer: Self.configure) { cluster in
            func client(_ node: Int, user: String) async throws -> PhoenixClient {
                var configuration = PhoenixClient.Configuration(
                    host: "127.0.0.1", port: cluster.servers[node].localPort!, params: ["user_id": user], heartbeatInterval: nil
                )
                configuration.reconnect = false
                let client = PhoenixClient(configuration: configuration)
                try await client.connect()
                return client
            }
            let onA = try await client(0, user: "7")
            let onB = try await client(1, user: "7")
            let other = try await client(1, user: "8")
            let codes = Mutex<[UInt16?]>([])
            for client in [onA, onB] {
                client.onClose { info in codes.withLock { $0.append(info.code) } }
            }
            try await Task.sleep(for: .milliseconds(100))
            let response = try await Self.admin(cluster.servers[0], "/disconnect", method: "POST", body: #"{"id":"user_socket:7"}"#)
            #expect(response.status == 200)
            #expect(response.json?["disconnected"]?.intValue == 1)
            #expect(await Self.eventually { codes.withLock { $0.count } == 2 })
            #expect(codes.withLock { $0 } == [1001, 1001])
            #expect(await Self.eventually { cluster.servers[1].connectionCount == 1 })
            #expect(cluster.servers[0].connectionCount == 0)
            await other.disconnect()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func rebalanceAsksOnlyTheNodesAboveTheMean() async throws {
        try await TestCluster.with(nodes: 3, configureServer: Self.configure) { cluster in
            let ports = cluster.servers.map { $0.localPort! }
            var clients = try await Self.clients(port: ports[0], count: 30, topics: 3, reconnect: false)
            clients += try await Self.clients(port: ports[1], count: 10, topics: 3, reconnect: false)
            clients += try await Self.clients(port: ports[2], count: 2, topics: 3, reconnect: false)
            let c = cluster.servers[2]
            #expect(try await Self.eventually { try await Self.view(c) == ["node-a": 30, "node-b": 10, "node-c": 2] })

            // Asked on C, carried out by A: mean 14, A sheds 16, B (10) and C (2) nothing.
            let response = try await Self.admin(c, "/rebalance", method: "POST", body: #"{"tolerance":"10%","over":"500ms"}"#)
            #expect(response.status == 200)
            let json = try #require(response.json)
            #expect(json["mean"]?.doubleValue == 14)
            #expect(json["shedding"]?.intValue == 16)
            let shedding = (json["nodes"]?.arrayValue ?? []).map { [$0["node"]?.stringValue ?? "", "\($0["shedding"]?.intValue ?? -1)"] }
            #expect(shedding == [["node-a", "16"], ["node-b", "0"], ["node-c", "0"]])
            #expect(await Self.eventually { cluster.servers[0].connectionCount == 14 })
            try await Task.sleep(for: .milliseconds(300))
            #expect(cluster.servers.map(\.connectionCount) == [14, 10, 2])

            let bad = try await Self.admin(c, "/rebalance", method: "POST", body: #"{"tolerance":"200%"}"#)
            #expect(bad.status == 400)
            for (client, _) in clients { await client.disconnect() }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func oneRebalanceBringsANewNodeBehindHAProxyToTheMean() async throws {
        try await TestCluster.with(nodes: 3, configureServer: Self.configure) { cluster in
            let names = ["a", "b", "c"]
            let haproxy = try await HAProxyTestServer.start(
                servers: zip(names, cluster.servers).map { ($0, $1.localPort!) }, disabled: ["c"]
            )
            defer { haproxy.stop() }
            #expect(try await Self.eventually { try haproxy.isUp("a") && haproxy.isUp("b") })

            // 600 clients on two nodes; then the third is added.
            let clients = try await Self.clients(port: haproxy.port, count: 600, topics: 20, reconnect: true)
            let before = cluster.servers.map(\.connectionCount)
            #expect(before[2] == 0 && before[0] + before[1] == 600, "before: \(before)")
            try haproxy.enable("c")
            #expect(try await Self.eventually { try haproxy.isUp("c") })
            let a = cluster.servers[0]
            #expect(try await Self.eventually {
                let view = try await Self.view(a)
                return view.count == 3 && view.values.reduce(0, +) == 600
            })

            let response = try await Self.admin(a, "/rebalance", method: "POST", body: #"{"tolerance":"10%","over":"2s"}"#)
            #expect(response.status == 200)
            #expect(response.json?["mean"]?.doubleValue == 200)

            // One pass: every node within 10 % of the mean, every client back and joined.
            let balanced = await Self.eventually(timeout: .seconds(20)) {
                let counts = cluster.servers.map(\.connectionCount)
                guard counts.reduce(0, +) == 600, counts.allSatisfy({ abs($0 - 200) <= 20 }) else { return false }
                for (_, channel) in clients where await channel.state != .joined { return false }
                return true
            }
            let after = cluster.servers.map(\.connectionCount)
            #expect(balanced, "after one rebalance: \(after) (before: \(before))")
            print("rebalance behind haproxy: before \(before), after \(after)")
            for (client, _) in clients { await client.disconnect() }
        }
    }
}
