import NIOCore
import Switchboard
@testable import SwitchboardRedis
import Synchronization
import Testing

/// `redis+cluster://` against a real Redis Cluster the suite starts once:
/// three masters with a replica each (``RedisClusterTestGroup``).
@Suite("Redis Cluster sharded pub/sub", .serialized, RedisClusterTestGroup.Scope())
struct RedisClusterTests {
    /// What a receiving adapter delivered: numbers per topic, with when each arrived.
    final class Arrivals: Sendable {
        private struct State {
            var numbers: [String: Set<Int>] = [:]
            var times: [String: [ContinuousClock.Instant]] = [:]
            var total = 0
        }

        private let state = Mutex(State())

        func record(_ message: PubSubMessage) {
            guard case .json(let json) = message.payload, let number = json["n"]?.intValue else { return }
            state.withLock { state in
                state.numbers[message.topic, default: []].insert(number)
                state.times[message.topic, default: []].append(.now)
                state.total += 1
            }
        }

        var total: Int { state.withLock(\.total) }

        func numbers(of topic: String) -> Set<Int> {
            state.withLock { $0.numbers[topic] ?? [] }
        }

        /// The longest time without an arrival on `topic` between `start` and `end`.
        func longestGap(on topic: String, from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Duration {
            let times = [start] + state.withLock { $0.times[topic] ?? [] }.filter { $0 > start && $0 < end } + [end]
            return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
        }
    }

    static func configuration(_ name: String, url: String, outageBuffer: Int = 50_000) throws -> RedisAdapterConfiguration {
        var configuration = RedisAdapterConfiguration(url: try RedisURL(url), nodeName: name)
        configuration.connectTimeout = .seconds(2)
        configuration.outageBuffer = outageBuffer
        configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(300))
        configuration.outageReplayDelay = .milliseconds(800)
        configuration.clusterRefreshInterval = .seconds(1)
        return configuration
    }

    /// A receiving and a sending adapter on the cluster.
    static func pair(_ group: RedisClusterTestGroup, arrivals: Arrivals) async throws -> (receiver: RedisAdapter, sender: RedisAdapter) {
        let receiver = RedisAdapter(configuration: try configuration("receiver", url: group.url), logger: testLogger("receiver"))
        try await receiver.start(deliver: { arrivals.record($0) }, control: { _ in })
        let sender = RedisAdapter(configuration: try configuration("sender", url: group.url), logger: testLogger("sender"))
        do {
            try await sender.start(deliver: { _ in }, control: { _ in })
        } catch {
            await receiver.shutdown()
            throw error
        }
        return (receiver, sender)
    }

    /// Runs `body` with ``pair(_:arrivals:)``'s adapters, shut down after it.
    static func withPair(
        _ group: RedisClusterTestGroup, arrivals: Arrivals, _ body: (_ receiver: RedisAdapter, _ sender: RedisAdapter) async throws -> Void
    ) async throws {
        let (receiver, sender) = try await pair(group, arrivals: arrivals)
        do {
            try await body(receiver, sender)
        } catch {
            await receiver.shutdown()
            await sender.shutdown()
            throw error
        }
        await receiver.shutdown()
        await sender.shutdown()
    }

    static func message(_ topic: String, _ number: Int) -> PubSubMessage {
        PubSubMessage(topic: topic, event: "n", payload: .json(["n": .int(number)]), originNode: "sender")
    }

    static func waitUntil(within limit: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test("the hash slot of a name is Redis's own (CLUSTER KEYSLOT), hash tags included")
    func slotsMatchRedis() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        for name in ["switchboard:t:room:lobby", "a", "", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "switchboard:n:node-a", "é✓"] {
            let answer = try await redisCLI(port: group.servers[0].port, ["CLUSTER", "KEYSLOT", name])
            #expect(Int(answer.trimmingCharacters(in: .whitespacesAndNewlines)) == RedisClusterSlot.of(name), "\(name)")
        }
        // A channel's slot, computed on the stack for each publish, is its name's.
        for (kind, name) in [("t:", "room:lobby"), ("t:", "{user1000}.following"), ("n:", "node-a"), ("t:", "é✓"), ("t:", "")] {
            let channel = RedisChannelName(prefix: "switchboard", kind: kind, name: name)
            let answer = try await redisCLI(port: group.servers[0].port, ["CLUSTER", "KEYSLOT", channel.description])
            #expect(Int(answer.trimmingCharacters(in: .whitespacesAndNewlines)) == channel.slot, "\(channel)")
        }
    }

    @Test("2 nodes, 200 topics over the 3 shards: every broadcast delivered; one subscriber connection per shard and node")
    func deliversOverEveryShard() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        let arrivals = Arrivals()
        try await Self.withPair(group, arrivals: arrivals) { receiver, sender in
            let topics = (0..<200).map { "room:\($0)" }
            for topic in topics {
                try await receiver.topicActivated(topic)
            }
            let placement = await receiver.shardChannels()
            #expect(placement.count == 3, "\(placement)")
            #expect(placement.values.allSatisfy { $0 > 30 }, "topics are not spread over the shards: \(placement)")
            for round in 1...5 {
                for topic in topics {
                    try await sender.broadcast(Self.message(topic, round))
                }
            }
            let all = try await Self.waitUntil(within: .seconds(10)) { arrivals.total >= 1000 }
            #expect(all, "\(arrivals.total) of 1000 delivered")
            for topic in topics {
                #expect(arrivals.numbers(of: topic) == [1, 2, 3, 4, 5], "\(topic)")
            }
            #expect(receiver.status.state == "connected", "\(receiver.status)")
            #expect(receiver.status.detail?.contains("3 shard(s)") == true, "\(String(describing: receiver.status.detail))")
            let shardSubscribers = receiver.status.connections.filter { $0.name.hasPrefix("shard ") && $0.name.hasSuffix(" subscriber") }
            #expect(shardSubscribers.count == 3 && shardSubscribers.allSatisfy { $0.state == "connected" }, "\(receiver.status.connections)")

            // Each node has at most one subscriber connection per master, and none on a replica.
            let masters = try await group.nodes().filter(\.isMaster).map(\.port)
            var subscribers = 0
            for server in group.servers {
                let clients = try await redisCLI(port: server.port, ["CLIENT", "LIST"]).split(separator: "\n")
                let ours = clients.filter { $0.contains("name=switchboard:receiver:sub") }
                #expect(ours.count <= 1, "\(server.port): \(ours)")
                if !masters.contains(server.port) { #expect(ours.isEmpty, "a subscriber on the replica \(server.port)") }
                subscribers += ours.count
            }
            #expect(subscribers == 3)
        }
    }

    /// Broadcasts `topics` in turn, about 500 a second in all, until
    /// stopped (at most `limit`); returns the last number sent per topic.
    final class Stream: Sendable {
        private final class Shared: Sendable {
            let sent = Mutex<[String: Int]>([:])
            let stopping = Atomic<Bool>(false)
        }

        let topics: [String]
        private let shared = Shared()
        private let task: Task<Void, any Error>

        init(topics: [String], sender: RedisAdapter, limit: Duration = .seconds(30)) {
            self.topics = topics
            let shared = self.shared
            let deadline = ContinuousClock.now + limit
            task = Task {
                var number = 0
                while !shared.stopping.load(ordering: .relaxed), ContinuousClock.now < deadline {
                    number += 1
                    for topic in topics {
                        try await sender.broadcast(RedisClusterTests.message(topic, number))
                    }
                    shared.sent.withLock { for topic in topics { $0[topic] = number } }
                    try await Task.sleep(for: .milliseconds(2 * topics.count))
                }
            }
        }

        func stop() async throws -> [String: Int] {
            shared.stopping.store(true, ordering: .relaxed)
            try await task.value
            return shared.sent.withLock { $0 }
        }
    }

    /// Checks every topic of `stream`: each number sent arrived (`window`
    /// 0), or all but at most `window` in a row (the switch-over of a
    /// failover, where sharded pub/sub is at-most-once), and `topic` had no
    /// gap longer than a second since `start`.
    static func checkDelivery(
        _ arrivals: Arrivals, stream: Stream, watched topic: String, since start: ContinuousClock.Instant, lossWindow window: Int, what: String
    ) async throws {
        let sent = try await stream.stop()
        let stopped = ContinuousClock.now
        _ = try await waitUntil(within: .seconds(3)) {
            sent.allSatisfy { topic, last in arrivals.numbers(of: topic).contains(last) }
        }
        var lost = 0
        for (name, last) in sent.sorted(by: { $0.key < $1.key }) {
            let missing = Set(1...last).subtracting(arrivals.numbers(of: name)).sorted()
            lost += missing.count
            #expect(arrivals.numbers(of: name).contains(last), "\(what): \(name)'s last message (\(last)) did not arrive")
            if window == 0 {
                #expect(missing.isEmpty, "\(what): \(name) lost \(missing.count) of \(last): \(missing.prefix(20))")
            } else {
                #expect((missing.last ?? 0) - (missing.first ?? 0) < window, "\(what): \(name) lost \(missing.count) of \(last), beyond one switch-over: \(missing.prefix(20))")
            }
        }
        print("\(what): \(lost) of \(sent.values.reduce(0, +)) messages lost")
        let gap = arrivals.longestGap(on: topic, from: start, to: stopped - .milliseconds(100))
        #expect(gap < .seconds(1), "\(what): no delivery on \(topic) for \(gap)")
    }

    @Test("a slot moved to another master under load (SETSLOT IMPORTING/MIGRATING/NODE): delivery resumes within 1 s, nothing lost (what was answered MOVED is published again)")
    func followsSlotMigration() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        let arrivals = Arrivals()
        try await Self.withPair(group, arrivals: arrivals) { receiver, sender in
            let topics = (0..<10).map { "room:migrate:\($0)" }
            for topic in topics {
                try await receiver.topicActivated(topic)
            }
            let stream = Stream(topics: topics, sender: sender)
            let watched = topics[0]
            try await Task.sleep(for: .milliseconds(300))
            let slot = RedisClusterSlot.of("switchboard:t:\(watched)")
            let nodes = try await group.nodes()
            let source = try #require(try await group.owner(ofSlot: slot))
            let target = try #require(nodes.first { $0.isMaster && $0.id != source.id })
            let started = ContinuousClock.now
            try await Self.move(slot: slot, from: source, to: target, nodes: nodes)
            try await Task.sleep(for: .seconds(2))
            try await Self.checkDelivery(arrivals, stream: stream, watched: watched, since: started, lossWindow: 0, what: "slot \(slot) moved from \(source.port) to \(target.port)")
            let moved = try await group.owner(ofSlot: slot)
            #expect(moved?.id == target.id)
            let placement = await receiver.shardChannels()
            #expect(placement[RedisHostPort(host: "127.0.0.1", port: target.port)] ?? 0 > 0, "\(placement)")
            #expect(receiver.status.state == "connected", "\(receiver.status)")
            print("slot migration: receiver \(receiver.statistics), sender \(sender.statistics)")
        }
    }

    /// Moves `slot` (holding no keys) from the master `source` to the master
    /// `target` as a resharding does: `IMPORTING`/`MIGRATING`, then `NODE`
    /// on every master, the new owner's epoch made the newest.
    static func move(slot: Int, from source: RedisClusterTestGroup.Node, to target: RedisClusterTestGroup.Node, nodes: [RedisClusterTestGroup.Node]) async throws {
        _ = try await redisCLI(port: target.port, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", source.id])
        _ = try await redisCLI(port: source.port, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", target.id])
        try await Task.sleep(for: .milliseconds(100))
        _ = try await redisCLI(port: target.port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id])
        // The new owner's claim must win any conflict with the old one's (a newer config epoch).
        _ = try await redisCLI(port: target.port, ["CLUSTER", "BUMPEPOCH"])
        _ = try await redisCLI(port: source.port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id])
        for master in nodes where master.isMaster && master.id != source.id && master.id != target.id {
            _ = try await redisCLI(port: master.port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id])
        }
    }

    /// The probe channels of node `name` that the master at `port` has subscribers on.
    static func probeChannels(of name: String, onPort port: Int) async throws -> [String] {
        try await redisCLI(port: port, ["PUBSUB", "SHARDCHANNELS", "switchboard:p:*"])
            .split(separator: "\n").map(String.init).filter { $0.hasSuffix("}\(name)") }
    }

    @Test("the slot of a shard's probe channel moves to another master: the probe takes a channel its master still serves, without a false alarm")
    func probeFollowsItsSlot() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        try await Self.withPair(group, arrivals: Arrivals()) { receiver, sender in
            let nodes = try await group.nodes()
            let masters = nodes.filter(\.isMaster)
            let source = masters[0]
            let target = try #require(masters.first { $0.id != source.id })
            let before = try await Self.probeChannels(of: "receiver", onPort: source.port)
            #expect(before.count == 1, "\(before)")
            let channel = try #require(before.first)
            let slot = RedisClusterSlot.of(channel)
            try await Self.move(slot: slot, from: source, to: target, nodes: nodes)
            let moved = try await Self.waitUntil(within: .seconds(5)) {
                let now = try await Self.probeChannels(of: "receiver", onPort: source.port)
                return now.count == 1 && now != before
            }
            let after = try await Self.probeChannels(of: "receiver", onPort: source.port)
            #expect(moved, "\(after)")
            let onTarget = try await Self.probeChannels(of: "receiver", onPort: target.port)
            #expect(onTarget.count == 1, "\(onTarget)")
            // Several probe rounds on the new channel.
            try await Task.sleep(for: .seconds(2))
            #expect(receiver.statistics.probeFailures == 0, "\(receiver.statistics)")
            #expect(receiver.status.state == "connected", "\(receiver.status)")
        }
    }

    @Test("a shard's master that stops answering (CLIENT PAUSE): its probe turns the state red within 5 s, naming the shard; the other shards deliver on; nothing is lost; it recovers")
    func silentShardShows() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        let arrivals = Arrivals()
        try await Self.withPair(group, arrivals: arrivals) { receiver, sender in
            let topics = (0..<12).map { "room:silent:\($0)" }
            for topic in topics {
                try await receiver.topicActivated(topic)
            }
            let paused = try #require(try await group.owner(ofSlot: RedisClusterSlot.of("switchboard:t:\(topics[0])")))
            var elsewhere: String?
            for topic in topics.dropFirst() where try await group.owner(ofSlot: RedisClusterSlot.of("switchboard:t:\(topic)"))?.id != paused.id {
                elsewhere = topic
                break
            }
            let watched = try #require(elsewhere, "every topic on one master")
            let stream = Stream(topics: topics, sender: sender)
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            // Connections stay open; the master reads nothing for 4 s (its cluster bus goes on: no failover).
            _ = try await redisCLI(port: paused.port, ["CLIENT", "PAUSE", "4000", "ALL"])
            let red = try await Self.waitUntil(within: .seconds(5)) { receiver.status.state != "connected" }
            #expect(red, "\(receiver.status)")
            #expect(receiver.status.detail?.contains("shard 127.0.0.1:\(paused.port)") == true, "\(String(describing: receiver.status.detail))")
            let down = receiver.status.connections.filter { $0.state != "connected" }.map(\.name)
            #expect(!down.isEmpty && down.allSatisfy { $0.hasPrefix("shard 127.0.0.1:\(paused.port) ") }, "\(receiver.status.connections)")
            #expect(receiver.statistics.probeFailures >= 1, "\(receiver.statistics)")
            let green = try await Self.waitUntil(within: .seconds(10)) {
                receiver.status.state == "connected" && sender.status.state == "connected"
            }
            #expect(green, "\(receiver.status)")
            try await Task.sleep(for: .seconds(2))
            try await Self.checkDelivery(arrivals, stream: stream, watched: watched, since: started, lossWindow: 0, what: "\(paused.port) paused")
            print("silent shard: receiver \(receiver.statistics), sender \(sender.statistics)")
            try await group.waitUntilReady()
        }
    }

    @Test("CLUSTER FAILOVER on a replica under load: delivery resumes within 1 s, at most two in a row per topic lost, none in most runs (what the demoted master ran as a replica is published again)")
    func followsFailover() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        let arrivals = Arrivals()
        try await Self.withPair(group, arrivals: arrivals) { receiver, sender in
            let topics = (0..<10).map { "room:failover:\($0)" }
            for topic in topics {
                try await receiver.topicActivated(topic)
            }
            let stream = Stream(topics: topics, sender: sender)
            let watched = topics[0]
            try await Task.sleep(for: .milliseconds(300))
            let slot = RedisClusterSlot.of("switchboard:t:\(watched)")
            let master = try #require(try await group.owner(ofSlot: slot))
            let replica = try #require(try await group.nodes().first { $0.masterID == master.id })
            let started = ContinuousClock.now
            let answer = try await redisCLI(port: replica.port, ["CLUSTER", "FAILOVER"])
            #expect(answer.hasPrefix("OK"), "\(answer)")
            let promoted = try await Self.waitUntil(within: .seconds(10)) {
                try await group.owner(ofSlot: slot, askingPort: replica.port)?.id == replica.id
            }
            #expect(promoted)
            try await Task.sleep(for: .seconds(2))
            try await Self.checkDelivery(arrivals, stream: stream, watched: watched, since: started, lossWindow: 2, what: "failover of \(master.port) to \(replica.port)")
            #expect(receiver.status.state == "connected", "\(receiver.status)")
            print("failover: receiver \(receiver.statistics), sender \(sender.statistics)")
            try await group.waitUntilReady()
        }
    }

    @Test("a shard's subscriber connection killed: the state turns red at once, names the shard, and recovers")
    func lostSubscriptionShows() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        var configuration = try Self.configuration("watched", url: group.url)
        // Back after 1 to 2 s: long enough to see the state while it is away.
        configuration.reconnectBackoff = RedisBackoff(initial: .seconds(2), maximum: .seconds(2))
        let receiver = RedisAdapter(configuration: configuration, logger: testLogger("watched"))
        try await receiver.start(deliver: { _ in }, control: { _ in })
        do {
            let master = try #require(try await group.nodes().first(where: \.isMaster))
            let clients = try await redisCLI(port: master.port, ["CLIENT", "LIST"]).split(separator: "\n")
            let line = try #require(clients.first { $0.contains("name=switchboard:watched:sub") })
            let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
            let killed = ContinuousClock.now
            _ = try await redisCLI(port: master.port, ["CLIENT", "KILL", "ID", String(id)])
            let red = try await Self.waitUntil(within: .seconds(5)) { receiver.status.state != "connected" }
            #expect(red, "\(receiver.status)")
            #expect(ContinuousClock.now - killed < .seconds(5))
            #expect(receiver.status.detail?.contains("shard 127.0.0.1:\(master.port) subscriber") == true, "\(String(describing: receiver.status.detail))")
            let green = try await Self.waitUntil(within: .seconds(5)) { receiver.status.state == "connected" }
            #expect(green, "\(receiver.status)")
        } catch {
            await receiver.shutdown()
            throw error
        }
        await receiver.shutdown()
    }

    @Test("a server that is not a cluster, and seeds that are all down: clear start errors")
    func startErrors() async throws {
        let plain = try await RedisTestServer.start()
        defer { plain.stop() }
        let adapter = RedisAdapter(configuration: try Self.configuration("x", url: "redis+cluster://127.0.0.1:\(plain.port)"), logger: testLogger("x"))
        do {
            try await adapter.start(deliver: { _ in }, control: { _ in })
            Issue.record("started on a server without cluster mode")
        } catch {
            #expect("\(error)".contains("not in cluster mode"), "\(error)")
        }
        let refusing = try RefusingPort()
        let down = refusing.port
        let unreachable = RedisAdapter(configuration: try Self.configuration("y", url: "redis+cluster://127.0.0.1:\(down)"), logger: testLogger("y"))
        do {
            try await unreachable.start(deliver: { _ in }, control: { _ in })
            Issue.record("started without a reachable node")
        } catch {
            #expect("\(error)".contains("no Redis Cluster node gave its slot map"), "\(error)")
            #expect("\(error)".contains("127.0.0.1:\(down)"), "\(error)")
        }
        withExtendedLifetime(refusing) {}
    }

    @Test("CLUSTER SLOTS replies that cannot be used are clear errors")
    func badSlotMaps() throws {
        let asked = RedisHostPort(host: "127.0.0.1", port: 7000)
        func master(_ host: String, _ port: Int) -> RedisValue {
            .array([.bulkString(ByteBuffer(string: host)), .integer(port), .bulkString(ByteBuffer(string: "id"))])
        }
        let good = try RedisClusterTopology(
            clusterSlots: .array([.array([.integer(0), .integer(8000), master("", 7000)]), .array([.integer(8001), .integer(16383), master("10.0.0.2", 7001)])]),
            asked: asked
        )
        #expect(good.masters == [asked, RedisHostPort(host: "10.0.0.2", port: 7001)])
        #expect(good.owner(ofSlot: 8001)?.port == 7001)
        #expect(good.uncoveredSlots == 0)
        let partial = try RedisClusterTopology(clusterSlots: .array([.array([.integer(0), .integer(99), master("10.0.0.2", 7001)])]), asked: asked)
        #expect(partial.uncoveredSlots == 16384 - 100)
        #expect(partial.owner(ofSlot: 100) == nil)
        let bad: [(RedisValue, String)] = [
            (.error("ERR This instance has cluster support disabled"), "unexpected answer to CLUSTER SLOTS"),
            (.array([]), "no slot"),
            (.array([.array([.integer(0), .integer(16384), master("a", 1)])]), "unexpected slot range"),
            (.array([.array([.integer(10), .integer(5), master("a", 1)])]), "unexpected slot range"),
            (.array([.array([.integer(0), .integer(5), master("a", 0)])]), "unexpected slot range"),
            (.array([.array([.integer(0), .integer(5), master("?", 7000)])]), "without a usable address"),
            (.array([.array([.integer(0), .integer(5)])]), "unexpected slot range"),
        ]
        for (value, expected) in bad {
            #expect(throws: RedisClusterReplyError.self) { try RedisClusterTopology(clusterSlots: value, asked: asked) }
            do {
                _ = try RedisClusterTopology(clusterSlots: value, asked: asked)
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
        #expect(RedisClusterSlot.isRedirection("MOVED 3999 127.0.0.1:6381"))
        #expect(RedisClusterSlot.isRedirection("CLUSTERDOWN The cluster is down"))
        #expect(!RedisClusterSlot.isRedirection("NOPERM this user has no permissions"))
    }

    @Test("redis+cluster:// URLs")
    func urls() throws {
        let url = try RedisURL("rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2")
        #expect(url.cluster == [RedisHostPort(host: "10.0.0.1", port: 7000), RedisHostPort(host: "10.0.0.2", port: 6379)])
        #expect(url.tls)
        #expect(url.username == "app")
        #expect(url.password == "s@cret")
        #expect(url.description == "rediss+cluster://app:***@10.0.0.1:7000,10.0.0.2:6379")
        #expect(try RedisURL("redis+cluster://h:7000/").cluster?.count == 1)
        #expect(throws: RedisURLError.self) { try RedisURL("redis+cluster://h:7000/2") }
        #expect(throws: RedisURLError.self) { try RedisURL("redis+cluster://h:7000,,h2") }
    }

    @Test("the channel of a formatted SPUBLISH, for publishing a redirected one again")
    func channelOfAPublish() {
        var command = ByteBuffer()
        "switchboard:t:room:1".utf8.withContiguousStorageIfAvailable { channel in
            "payload\r\n".utf8.withContiguousStorageIfAvailable { message in
                RedisCommand.withPublish(channel: UnsafeRawBufferPointer(channel), message: UnsafeRawBufferPointer(message), sharded: true) {
                    _ = command.writeBytes($0)
                }
            }
        }
        #expect(RedisCommand.publishChannel(of: command) == "switchboard:t:room:1")
        #expect(RedisCommand.publishChannel(of: RedisCommand.encode(["PING"])) == nil)
        #expect(RedisCommand.publishChannel(of: ByteBuffer(string: "*3\r\n$8\r\nSPUBLISH\r\n$99\r\nshort")) == nil)
    }

    @Test("sharded pub/sub checks SPUBLISH and SSUBSCRIBE at connect: a user without +spublish, or without the prefix's channels, is refused at start")
    func shardedAccessCheck() async throws {
        let group = try #require(RedisClusterTestGroup.current)
        let rights = ["+spublish", "+ssubscribe", "+sunsubscribe", "+ping", "+cluster|slots", "+client|setname"]
        func user(_ name: String, without: String? = nil) -> [String] {
            ["ACL", "SETUSER", name, "reset", "on", ">pw", "resetchannels", "&acl-tenant:*", "-@all"] + rights.filter { $0 != without }
        }
        // ACL users are each server's own: every node gets them (a replica may become a master).
        for server in group.servers {
            _ = try await redisCLI(port: server.port, user("shard-app"))
            _ = try await redisCLI(port: server.port, user("shard-nopub", without: "+spublish"))
        }
        let seeds = "127.0.0.1:\(group.servers[0].port),127.0.0.1:\(group.servers[1].port)"
        func start(_ name: String, user: String, prefix: String = "acl-tenant") async throws -> RedisAdapter {
            var configuration = try Self.configuration(name, url: "redis+cluster://\(user):pw@\(seeds)")
            configuration.channelPrefix = prefix
            let adapter = RedisAdapter(configuration: configuration, logger: testLogger(name))
            try await adapter.start(deliver: { _ in }, control: { _ in })
            return adapter
        }
        func startError(_ name: String, user: String, prefix: String = "acl-tenant") async -> String {
            do {
                let adapter = try await start(name, user: user, prefix: prefix)
                await adapter.shutdown()
                return "started"
            } catch {
                return "\(error)"
            }
        }
        do {
            // Redis checks the ACL before the slot: a master that does not
            // serve the check channel answers NOPERM without the right, MOVED with it.
            let channel = "acl-tenant:access-check:publish"
            let owner = try #require(try await group.owner(ofSlot: RedisClusterSlot.of(channel.utf8)))
            let other = try #require(try await group.nodes().first { $0.isMaster && $0.port != owner.port })
            let login = ["--user", "shard-nopub", "--pass", "pw", "--no-auth-warning"]
            let refused = try await redisCLI(port: other.port, login + ["SPUBLISH", channel, ""])
            #expect(refused.contains("NOPERM"), "\(refused)")
            let moved = try await redisCLI(port: other.port, ["--user", "shard-app", "--pass", "pw", "--no-auth-warning", "SPUBLISH", channel, ""])
            #expect(moved.contains("MOVED"), "\(moved)")

            // The documented rights are enough.
            let adapter = try await start("acl-ok", user: "shard-app")
            #expect(adapter.status.state == "connected")
            await adapter.shutdown()

            let noPublish = await startError("acl-nopub", user: "shard-nopub")
            #expect(noPublish.contains("refused SPUBLISH acl-tenant:access-check:publish to user shard-nopub"), "\(noPublish)")
            #expect(noPublish.contains("NOPERM"), "\(noPublish)")
            #expect(noPublish.contains("+spublish +ssubscribe +sunsubscribe") && noPublish.contains("+cluster|slots"), "\(noPublish)")
            #expect(!noPublish.contains("pw@"), "the password must not be shown: \(noPublish)")

            let otherPrefix = await startError("acl-prefix", user: "shard-app", prefix: "acl-other")
            #expect(
                otherPrefix.contains("refused SPUBLISH acl-other:access-check:publish to user shard-app")
                    || otherPrefix.contains("refused SSUBSCRIBE acl-other:access-check:subscribe to user shard-app"),
                "\(otherPrefix)"
            )
            #expect(otherPrefix.contains("&acl-other:*"), "\(otherPrefix)")
        } catch {
            for server in group.servers {
                _ = try? await redisCLI(port: server.port, ["ACL", "DELUSER", "shard-app", "shard-nopub"])
            }
            throw error
        }
        for server in group.servers {
            _ = try await redisCLI(port: server.port, ["ACL", "DELUSER", "shard-app", "shard-nopub"])
        }
    }
}
