import Foundation
import SwitchboardTesting
import Testing

/// A Redis Cluster for a test suite: six `redis-server`s in cluster mode
/// (each with its own `nodes.conf` in a temporary directory, persistence
/// off), made into three masters with a replica each by `redis-cli
/// --cluster create --cluster-replicas 1`; ready once every node reports
/// `cluster_state:ok` and knows the other five. Everything is killed by
/// ``stop()``.
final class RedisClusterTestGroup: @unchecked Sendable {
    /// The group of the suite running now (``Scope``).
    @TaskLocal static var current: RedisClusterTestGroup?

    let servers: [RedisTestServer]
    private let directory: URL

    private init(servers: [RedisTestServer], directory: URL) {
        self.servers = servers
        self.directory = directory
    }

    /// `redis+cluster://` with the first two nodes as seeds.
    var url: String {
        "redis+cluster://127.0.0.1:\(servers[0].port),127.0.0.1:\(servers[1].port)"
    }

    static func start(nodes count: Int = 6, replicas: Int = 1) async throws -> RedisClusterTestGroup {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-cluster-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var servers: [RedisTestServer] = []
        do {
            for index in 0..<count {
                servers.append(try await startNode(index, directory: directory))
            }
            let group = RedisClusterTestGroup(servers: servers, directory: directory)
            let create = try await redisCLI(
                port: servers[0].port,
                ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "\(replicas)", "--cluster-yes"],
                within: .seconds(30)
            )
            guard create.contains("[OK] All 16384 slots covered") else {
                throw RedisTestServer.NotStarting(description: "redis-cli --cluster create failed: \(create.suffix(600))")
            }
            try await group.waitUntilReady()
            return group
        } catch {
            servers.forEach { $0.stop() }
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Starts one node on a port from ``clusterPort()``, trying other ports
    /// if it cannot listen (another process took one of the pair meanwhile).
    private static func startNode(_ index: Int, directory: URL) async throws -> RedisTestServer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await RedisTestServer.start(port: try clusterPort(), arguments: [
                    "--cluster-enabled", "yes", "--cluster-config-file", directory.appendingPathComponent("nodes-\(index).conf").path,
                    "--cluster-node-timeout", "2000", "--dir", directory.path, "--repl-diskless-sync-delay", "0",
                ])
            } catch let error as RedisTestServer.NotStarting where attempt < 5 {
                _ = error
                try? FileManager.default.removeItem(at: directory.appendingPathComponent("nodes-\(index).conf"))
            }
        }
    }

    /// A free loopback port whose cluster bus port (10000 above) is free
    /// and valid too, both below the ephemeral range (32768 and up), where
    /// the other tests' servers and clients get theirs.
    static func clusterPort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 11_000...22_000)
            if !RedisTestServer.accepts(port: port), !RedisTestServer.accepts(port: port + 10_000) {
                return port
            }
        }
        throw RedisTestServer.NotStarting(description: "cannot find a free port pair for a cluster node")
    }

    /// Waits (at most 20 s) until every node says `cluster_state:ok`, knows
    /// every other node, every replica's link to its master is up, and the
    /// first node (which the tests ask) knows every replica as one.
    func waitUntilReady(within limit: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + limit
        var last = ""
        while ContinuousClock.now < deadline {
            var ready = true
            var replicas = 0
            for server in servers {
                let info = (try? await redisCLI(port: server.port, ["CLUSTER", "INFO"])) ?? ""
                let nodes = (try? await redisCLI(port: server.port, ["CLUSTER", "NODES"])) ?? ""
                let replication = (try? await redisCLI(port: server.port, ["INFO", "replication"])) ?? ""
                let known = nodes.split(separator: "\n").filter { !$0.contains("handshake") && !$0.contains("fail") }.count
                if !info.contains("cluster_state:ok") || known != servers.count
                    || (replication.contains("role:slave") && !replication.contains("master_link_status:up"))
                {
                    ready = false
                    last = "\(server.port): \(info.prefix(40)), \(known) nodes known"
                }
                if replication.contains("role:slave") { replicas += 1 }
            }
            if ready, let seen = try? await nodes().filter({ $0.masterID != nil }).count, seen != replicas {
                ready = false
                last = "\(servers[0].port) knows \(seen) of \(replicas) replicas"
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RedisTestServer.NotStarting(description: "the cluster was not ready within \(limit): \(last)")
    }

    /// A node's `CLUSTER NODES` lines: `id address flags master …`.
    struct Node {
        var id: String
        var port: Int
        var isMaster: Bool
        /// A replica's master's id.
        var masterID: String?
        /// A master's slot ranges, `0-5460`.
        var slots: [String]
    }

    /// The cluster as the node at `port` sees it.
    func nodes(askingPort port: Int? = nil) async throws -> [Node] {
        let text = try await redisCLI(port: port ?? servers[0].port, ["CLUSTER", "NODES"])
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 8, let portText = fields[1].split(separator: ":").last?.split(separator: "@").first, let port = Int(portText) else {
                return nil
            }
            let isMaster = fields[2].contains("master")
            return Node(id: fields[0], port: port, isMaster: isMaster, masterID: isMaster ? nil : fields[3], slots: Array(fields.dropFirst(8)))
        }
    }

    /// The port of the master serving `slot`, as the node at `askingPort` sees it.
    func owner(ofSlot slot: Int, askingPort: Int? = nil) async throws -> Node? {
        try await nodes(askingPort: askingPort).first { node in
            node.isMaster && node.slots.contains { range in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2 { return (bounds[0]...bounds[1]).contains(slot) }
                return bounds.count == 1 && bounds[0] == slot
            }
        }
    }

    func stop() {
        servers.forEach { $0.stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts the cluster once around a whole suite and stops it at its end.
    struct Scope: SuiteTrait, TestScoping {
        var isRecursive: Bool { false }

        func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
            let group = try await RedisClusterTestGroup.start()
            defer { group.stop() }
            try await RedisClusterTestGroup.$current.withValue(group) {
                try await function()
            }
        }
    }
}
