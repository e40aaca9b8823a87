import Foundation
import Switchboard
import SwitchboardClient
import SwitchboardTesting
import Testing

/// Presence across nodes on one Redis: every node lists every node's
/// presences; a node that stops or dies takes its own with it; a lost
/// change is caught up.
@Suite("Presence across nodes", .serialized)
struct PresenceClusterTests {
    static let topic = "room:presence"

    /// Users "1", "2", "3" joined with presence on nodes 0, 1, 2.
    static func joinEveryNode(_ cluster: TestCluster) async throws -> [(PhoenixClient, ClientChannel)] {
        var joined: [(PhoenixClient, ClientChannel)] = []
        for index in cluster.servers.indices {
            let client = try await cluster.client(index, user: "\(index + 1)")
            let channel = client.channel(topic)
            _ = try await channel.join()
            joined.append((client, channel))
        }
        return joined
    }

    static func keys(_ server: SwitchboardServer) -> Set<String> {
        Set(server.presence.list(topic: topic).objectValue?.keys ?? [])
    }

    /// Waits until every server in `servers` lists exactly `keys`; returns how long it took.
    static func converge(_ servers: [SwitchboardServer], to keys: Set<String>, within limit: Duration) async throws -> Duration {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < limit {
            if servers.allSatisfy({ Self.keys($0) == keys }) { return ContinuousClock.now - started }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("not converged to \(keys.sorted()) within \(limit): \(servers.map { Self.keys($0).sorted() })")
        return limit
    }

    @Test("a presence is listed on every node within a few hundred ms; a node that stops takes its own once their rejoin grace passes")
    func replicatesAndStops() async throws {
        try await TestCluster.with(
            nodes: 3, endpoints: [BuiltIn.endpoint(presence: true)], configureServer: { $0.presence.rejoinGrace = .milliseconds(500) }
        ) { cluster in
            let clients = try await Self.joinEveryNode(cluster)
            let joinedIn = try await Self.converge(cluster.servers, to: ["1", "2", "3"], within: .seconds(2))
            // Carried by the deltas, not by the resync a heartbeat (every 1 s) would start.
            #expect(joinedIn < .seconds(1))
            // Each client's presence_state and diffs told it of the other two.
            let metas = cluster.servers[0].presence.get(topic: Self.topic, key: "3")
            #expect(metas.count == 1 && metas.first?["node"] == .string(cluster.servers[2].nodeName))

            // Its clients are moved: listed until they are back elsewhere
            // (these are not) or their grace has passed.
            await cluster.servers[2].shutdown()
            // Under 2 s: told, not counted down (that takes 3.5 s at least).
            let leftIn = try await Self.converge(Array(cluster.servers[0...1]), to: ["1", "2"], within: .seconds(5))
            #expect(leftIn < .seconds(2), "a stopping node says so")
            for (client, _) in clients { await client.disconnect() }
        }
    }

    @Test("a node just started lists the others' presences in its very first presence_state; a restarted node's old life is forgotten at once")
    func newNodeStartsComplete() async throws {
        try await TestCluster.with(nodes: 2, endpoints: [BuiltIn.endpoint(presence: true)]) { cluster in
            let clients = try await Self.joinEveryNode(cluster)
            _ = try await Self.converge(cluster.servers, to: ["1", "2"], within: .seconds(2))

            // Without its hello, the new node would hear of the others only
            // at their next heartbeat (up to 1 s): this join comes first.
            let late = try await TestCluster.start(nodes: 1, names: ["node-late"], redis: cluster.redis, endpoints: [BuiltIn.endpoint(presence: true)])
            let client = try await late.client(0, user: "3")
            let channel = client.channel(Self.topic)
            _ = try await channel.join()
            let state = try await channel.nextMessage(event: "presence_state", timeout: .seconds(2))
            guard case .json(let presences) = state.payload else { throw PresenceTestError("presence_state is not JSON") }
            #expect(Set(presences.objectValue?.keys ?? []) == ["1", "2", "3"])

            // node-b starts again (a new life, same name) without its clients:
            // its old presence leaves at once, not 3.5 s later.
            await clients[1].0.disconnect()
            await cluster.adapters[1].shutdown()
            let reborn = try await TestCluster.start(nodes: 1, names: ["node-b"], redis: cluster.redis, endpoints: [BuiltIn.endpoint(presence: true)])
            let forgotten = try await Self.converge([cluster.servers[0], late.servers[0]], to: ["1", "3"], within: .seconds(3))
            #expect(forgotten < .seconds(1))
            await client.disconnect()
            await clients[0].0.disconnect()
            await reborn.servers[0].shutdown()
            await late.servers[0].shutdown()
        }
    }

    @Test("a node that goes silent is counted down within 5 s and its presences leave, with a diff to the clients")
    func silentNodeIsCountedDown() async throws {
        try await TestCluster.with(nodes: 3, endpoints: [BuiltIn.endpoint(presence: true)]) { cluster in
            let clients = try await Self.joinEveryNode(cluster)
            _ = try await Self.converge(cluster.servers, to: ["1", "2", "3"], within: .seconds(2))
            // Node 2 loses Redis for good, as a killed process would: no goodbye.
            await cluster.adapters[2].shutdown()
            let started = ContinuousClock.now
            var sawLeave = false
            while !sawLeave, ContinuousClock.now - started < .seconds(6) {
                let diff = try await clients[0].1.nextMessage(event: "presence_diff", timeout: .seconds(6))
                if case .json(let json) = diff.payload { sawLeave = json["leaves"]?["3"] != nil }
            }
            #expect(sawLeave, "node 0's client was told user 3 left")
            let leftIn = try await Self.converge(Array(cluster.servers[0...1]), to: ["1", "2"], within: .seconds(6))
            #expect(leftIn < .seconds(5))
            for (client, _) in clients { await client.disconnect() }
        }
    }

    @Test("a shed client that rejoins shows no leave: its leave and new join come in one diff; a client that leaves itself leaves at once")
    func shedRejoinShowsNoLeave() async throws {
        try await TestCluster.with(nodes: 2, endpoints: [BuiltIn.endpoint(presence: true)]) { cluster in
            let watcher = try await cluster.client(0, user: "watcher")
            let watching = watcher.channel(Self.topic)
            _ = try await watching.join()
            let moved = try await cluster.client(1, user: "7")
            let movedChannel = moved.channel(Self.topic)
            _ = try await movedChannel.join()
            _ = try await Self.converge(cluster.servers, to: ["watcher", "7"], within: .seconds(2))
            // Only what comes from here on.
            while (try? await watching.nextMessage(event: "presence_diff", timeout: .milliseconds(200))) != nil {}

            await cluster.servers[1].shed(.all, over: .milliseconds(50))
            var sawRejoin = false
            let started = ContinuousClock.now
            while !sawRejoin, ContinuousClock.now - started < .seconds(8) {
                let diff = try await watching.nextMessage(event: "presence_diff", timeout: .seconds(8))
                guard case .json(let json) = diff.payload else { continue }
                let joined = json["joins"]?["7"] != nil
                let left = json["leaves"]?["7"] != nil
                #expect(!left || joined, "a leave of 7 alone: \(json)")
                sawRejoin = joined && left
            }
            #expect(sawRejoin, "the leave and the new join in one diff")
            #expect(cluster.servers[0].presence.get(topic: Self.topic, key: "7").count == 1)

            // Leaving by itself is told at once.
            await moved.disconnect()
            let leftAt = ContinuousClock.now
            let diff = try await watching.nextMessage(event: "presence_diff", timeout: .seconds(3))
            if case .json(let json) = diff.payload { #expect(json["leaves"]?["7"] != nil && json["joins"]?["7"] == nil) }
            #expect(ContinuousClock.now - leftAt < .seconds(2))
            await watcher.disconnect()
        }
    }

    @Test("a client that joins while a moved member is not back lists it, as the clients already there do; its grace passing takes it off every list")
    func movedMemberListedToLateJoiners() async throws {
        try await TestCluster.with(
            nodes: 2, endpoints: [BuiltIn.endpoint(presence: true)], configureServer: { $0.presence.rejoinGrace = .seconds(2) }
        ) { cluster in
            let watcher = try await cluster.client(0, user: "watcher")
            let watching = watcher.channel(Self.topic)
            _ = try await watching.join()
            // Moved by the server, and never back: it does not reconnect.
            var configuration = PhoenixClient.Configuration(
                host: "127.0.0.1", port: cluster.servers[1].localPort!, params: ["user_id": "7"], heartbeatInterval: nil
            )
            configuration.reconnect = false
            let moved = PhoenixClient(configuration: configuration)
            try await moved.connect()
            _ = try await moved.channel(Self.topic).join()
            _ = try await Self.converge(cluster.servers, to: ["watcher", "7"], within: .seconds(2))
            while (try? await watching.nextMessage(event: "presence_diff", timeout: .milliseconds(200))) != nil {}

            await cluster.servers[1].shed(.all, over: .milliseconds(50))
            let shedAt = ContinuousClock.now
            while cluster.servers[1].connectionCount > 0, ContinuousClock.now - shedAt < .seconds(2) {
                try await Task.sleep(for: .milliseconds(10))
            }
            // The leave has been held on both nodes (a delta's way through Redis).
            try await Task.sleep(for: .milliseconds(300))

            var late: [(PhoenixClient, ClientChannel)] = []
            for node in cluster.servers.indices {
                let client = try await cluster.client(node, user: "late\(node)")
                let channel = client.channel(Self.topic)
                _ = try await channel.join()
                let state = try await channel.nextMessage(event: "presence_state", timeout: .seconds(2))
                guard case .json(let presences) = state.payload else { throw PresenceTestError("presence_state is not JSON") }
                #expect(presences.objectValue?["7"] != nil, "node \(node)'s presence_state lists the moved member: \(presences)")
                late.append((client, channel))
            }
            #expect(ContinuousClock.now - shedAt < .seconds(2), "the late joins came within the grace")

            // The grace passes: one leave for everyone, the late joiners included.
            for channel in [watching] + late.map(\.1) {
                var left = false
                let started = ContinuousClock.now
                while !left, ContinuousClock.now - started < .seconds(3) {
                    let diff = try await channel.nextMessage(event: "presence_diff", timeout: .seconds(3))
                    if case .json(let json) = diff.payload { left = json["leaves"]?["7"] != nil }
                }
                #expect(left, "the moved member's leave, once its grace passed")
            }
            _ = try await Self.converge(cluster.servers, to: ["watcher", "late0", "late1"], within: .seconds(2))
            for client in [watcher] + late.map(\.0) { await client.disconnect() }
            await moved.disconnect()
        }
    }

    @Test("changes made while Redis is down are caught up once it is back: no ghost, nobody missing")
    func convergesAfterAnOutage() async throws {
        let redis = try await RedisTestServer.start()
        try await TestCluster.with(nodes: 2, redis: redis, endpoints: [BuiltIn.endpoint(presence: true)]) { cluster in
            var clients = try await Self.joinEveryNode(cluster)
            _ = try await Self.converge(cluster.servers, to: ["1", "2"], within: .seconds(2))

            redis.kill()
            // User 2 leaves and user 3 arrives on node 0 while the nodes cannot hear each other.
            await clients[1].0.disconnect()
            let late = try await cluster.client(0, user: "3")
            let lateChannel = late.channel(Self.topic)
            _ = try await lateChannel.join()
            clients[1] = (late, lateChannel)
            try await Task.sleep(for: .milliseconds(500))
            try await redis.launch()

            _ = try await Self.converge(cluster.servers, to: ["1", "3"], within: .seconds(8))
            for (client, _) in clients { await client.disconnect() }
        }
    }
}

struct PresenceTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
