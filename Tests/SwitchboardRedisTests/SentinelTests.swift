import Foundation
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardClient
@testable import SwitchboardRedis
import Synchronization
import Testing

/// `redis+sentinel://` against a real Sentinel group the tests start: a
/// master, a replica and three sentinels (``SentinelTestGroup``).
@Suite("Redis Sentinel", .serialized)
struct SentinelTests {
    /// The numbers a receiving adapter delivered, with when each arrived.
    final class Arrivals: Sendable {
        private let state = Mutex<[(number: Int, at: ContinuousClock.Instant)]>([])

        func append(_ number: Int) {
            state.withLock { $0.append((number, .now)) }
        }

        var count: Int { state.withLock { $0.count } }

        /// The numbers of `1...total` not received.
        func missing(of total: Int) -> [Int] {
            let seen = Set(state.withLock { $0.map(\.number) })
            return (1...total).filter { !seen.contains($0) }
        }

        /// The longest time without an arrival between `start` and `end`.
        func longestGap(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Duration {
            let times = [start] + state.withLock { $0.map(\.at) }.filter { $0 > start && $0 < end } + [end]
            return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
        }

        /// When the first number above `number` arrived after `instant`.
        func firstArrival(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
            state.withLock { $0.first { $0.at > instant }?.at }
        }
    }

    static let topic = "room:sentinel"

    static func configure(_ configuration: inout RedisAdapterConfiguration) {
        configuration.connectTimeout = .seconds(2)
        configuration.outageBuffer = 50_000
        configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(300))
        // Subscribers move a third of this after the publishers and must be
        // resubscribed before the publishers go on: room for a busy machine.
        configuration.outageReplayDelay = .milliseconds(1200)
    }

    @Test("two nodes on a redis+sentinel:// URL connect to the master and deliver cross-node")
    func deliversCrossNode() async throws {
        let group = try await SentinelTestGroup.start()
        defer { group.stop() }
        let url = group.url()
        let cluster = try await TestCluster.start(nodes: 2, redis: group.servers[0], urls: [url, url])
        do {
            let (_, roomA) = try await cluster.joined(0, "room:x")
            let (_, roomB) = try await cluster.joined(1, "room:x")
            _ = try await roomA.push("shout", ["text": "hi"])
            #expect(try await roomB.nextMessage(event: "shout").payload == .json(["text": "hi"]))
            for adapter in cluster.adapters {
                #expect(adapter.status.state == "connected")
                #expect(adapter.status.detail?.contains("master 127.0.0.1:\(group.servers[0].port)") == true, "\(String(describing: adapter.status.detail))")
            }
            // Every connection is on the master, none on the replica.
            let onReplica = try await redisCLI(port: group.servers[1].port, ["CLIENT", "LIST"])
            #expect(!onReplica.contains("name=switchboard:node-"), "\(onReplica)")
            let onMaster = try await redisCLI(port: group.servers[0].port, ["CLIENT", "LIST"])
            #expect(onMaster.contains("name=switchboard:node-a:pub0"))
            #expect(onMaster.contains("name=switchboard:node-b:sub"))
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }

    @Test("a master demoted behind the node's back (no +switch-master acted on): the publisher leaves it within the ROLE re-check period")
    func publisherLeavesADemotedMaster() async throws {
        let group = try await SentinelTestGroup.start()
        defer { group.stop() }
        let elsewhere = try await RedisTestServer.start()
        defer { elsewhere.stop() }
        let master = group.servers[0]
        let url = group.url()
        let cluster = try await TestCluster.start(nodes: 1, redis: master, urls: [url], configure: { configuration in
            Self.configure(&configuration)
            configuration.roleCheckInterval = .seconds(1)
            // The sentinels' announcement of the failover that follows comes too late to matter.
            configuration.sentinelSwitchGrace = .seconds(60)
        })
        do {
            let adapter = cluster.adapters[0]
            #expect(adapter.status.state == "connected")
            #expect(try await redisCLI(port: master.port, ["CLIENT", "LIST"]).contains("name=switchboard:node-a:pub0"))
            // A replica now, of a server outside the group; PUBLISH still works on it, so only ROLE tells.
            _ = try await redisCLI(port: master.port, ["REPLICAOF", "127.0.0.1", "\(elsewhere.port)"])
            let demoted = ContinuousClock.now
            try await eventually(within: .seconds(3)) { adapter.status.detail?.contains("publisher 0:") == true }
            let detail = adapter.status.detail ?? ""
            #expect(
                detail.contains("Redis answered ROLE: it is a slave now") || detail.contains("is a slave, not a master"),
                "\(detail)"
            )
            print("the publisher left the demoted master after \(ContinuousClock.now - demoted)")
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }

    /// Rounds of ``followsFailovers()``: every fifth kills the master with
    /// SIGKILL (and starts it again, to be the next replica), the others are
    /// `SENTINEL FAILOVER`s. `SWITCHBOARD_SENTINEL_ROUNDS` and
    /// `SWITCHBOARD_SENTINEL_RATE` (broadcasts a second) make the long
    /// measured run (20 rounds at 1,000/s, `docs/performance.md`).
    static let failoverRounds = ProcessInfo.processInfo.environment["SWITCHBOARD_SENTINEL_ROUNDS"].flatMap(Int.init) ?? 5
    static let failoverRate = ProcessInfo.processInfo.environment["SWITCHBOARD_SENTINEL_RATE"].flatMap(Int.init) ?? 500

    @Test("failovers and a master killed with SIGKILL under a steady stream: delivery resumes within 2 s, nothing lost, nothing published to a replica")
    func followsFailovers() async throws {
        let group = try await SentinelTestGroup.start()
        defer { group.stop() }
        let url = try RedisURL(group.url())
        let arrivals = Arrivals()
        var receiverConfiguration = RedisAdapterConfiguration(url: url, nodeName: "receiver")
        Self.configure(&receiverConfiguration)
        let receiver = RedisAdapter(configuration: receiverConfiguration, logger: testLogger("receiver"))
        try await receiver.start(deliver: { message in
            if case .json(let json) = message.payload, let number = json["n"]?.intValue { arrivals.append(number) }
        }, control: { _ in })
        var senderConfiguration = RedisAdapterConfiguration(url: url, nodeName: "sender")
        Self.configure(&senderConfiguration)
        senderConfiguration.publishers = 2
        let sender = RedisAdapter(configuration: senderConfiguration, logger: testLogger("sender"))
        try await sender.start(deliver: { _ in }, control: { _ in })
        try await receiver.topicActivated(Self.topic)

        // `failoverRate` broadcasts a second, in bursts every 10 ms, until told to stop.
        let sent = Atomic<Int>(0)
        let stopSending = Atomic<Bool>(false)
        let perTick = max(1, Self.failoverRate / 100)
        let stream = Task {
            var number = 0
            let clock = ContinuousClock()
            var tick = clock.now
            while !stopSending.load(ordering: .relaxed) {
                for _ in 0..<perTick {
                    number += 1
                    try await sender.broadcast(PubSubMessage(topic: Self.topic, event: "n", payload: .json(["n": .int(number)]), originNode: "sender"))
                }
                sent.store(number, ordering: .relaxed)
                tick = max(tick + .milliseconds(10), clock.now - .milliseconds(50))
                try await clock.sleep(until: tick)
            }
        }
        defer { stopSending.store(true, ordering: .relaxed) }

        func waitForArrivals(beyond count: Int, within limit: Duration) async throws {
            let deadline = ContinuousClock.now + limit
            while arrivals.count <= count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await waitForArrivals(beyond: 50, within: .seconds(5))
        #expect(arrivals.count > 50, "the stream does not arrive before any failover")

        var masterPort = group.servers[0].port
        /// The connections of the two adapters on the server at `port`.
        func ourClients(on port: Int) async throws -> [Substring] {
            try await redisCLI(port: port, ["CLIENT", "LIST"]).split(separator: "\n").filter { $0.contains("name=switchboard:") }
        }
        var gaps: [Duration] = []
        for round in 1...Self.failoverRounds {
            let started = ContinuousClock.now
            if round % 5 != 0 {
                let newPort = try await group.failover(from: masterPort, askingSentinel: round % 3)
                // The old master goes on as a master until the sentinels demote it
                // (about 8 s later): the adapters leave it on their own.
                let leaveDeadline = ContinuousClock.now + .seconds(5)
                var left = try await ourClients(on: masterPort)
                while !left.isEmpty, ContinuousClock.now < leaveDeadline {
                    try await Task.sleep(for: .milliseconds(100))
                    left = try await ourClients(on: masterPort)
                }
                #expect(left.isEmpty, "failover \(round): connections left on the old master: \(left)")
                try await waitForArrivals(beyond: arrivals.count + 100, within: .seconds(5))
                let gap = arrivals.longestGap(from: started, to: ContinuousClock.now)
                gaps.append(gap)
                #expect(gap < .seconds(2), "failover \(round): no delivery for \(gap)")
                // Demoted by the sentinels; nothing of ours is on it.
                try await group.waitUntilReplicated(masterPort: newPort)
                let onReplica = try await ourClients(on: masterPort)
                #expect(onReplica.isEmpty, "failover \(round): connections on the replica: \(onReplica)")
                print("sentinel round \(round): SENTINEL FAILOVER \(masterPort) → \(newPort), longest gap \(gap.humanReadable)")
                masterPort = newPort
                continue
            }
            // The master dies: the sentinels notice (1 s), elect a leader and promote the replica.
            let killed = try #require(group.servers.first { $0.port == masterPort })
            killed.kill()
            // Health says so while no master is connected.
            let downDeadline = ContinuousClock.now + .seconds(3)
            while receiver.status.state != "reconnecting", ContinuousClock.now < downDeadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(receiver.status.state == "reconnecting", "kill \(round): health did not show the lost master")
            let deadline = ContinuousClock.now + .seconds(20)
            var switched: (at: ContinuousClock.Instant, port: Int)?
            while ContinuousClock.now < deadline {
                if let port = try? await group.masterPort(askingSentinel: 0), port != masterPort {
                    switched = (.now, port)
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let (switchedAt, newPort) = try #require(switched, "kill \(round): no failover after the master was killed")
            try await waitForArrivals(beyond: arrivals.count + 100, within: .seconds(5))
            let resumed = try #require(arrivals.firstArrival(after: switchedAt))
            gaps.append(resumed - switchedAt)
            #expect(resumed - switchedAt < .seconds(2), "kill \(round): delivery resumed \(resumed - switchedAt) after the new master was named")
            print("sentinel round \(round): kill -9 of \(masterPort), new master \(newPort) named after \((switchedAt - started).humanReadable), delivery \((resumed - switchedAt).humanReadable) later")
            // Started again, the dead master becomes the next replica.
            try await killed.launch()
            try await group.waitUntilReplicated(masterPort: newPort, within: .seconds(30))
            masterPort = newPort
        }

        stopSending.store(true, ordering: .relaxed)
        try await stream.value
        let total = sent.load(ordering: .relaxed)
        let limit = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < limit, !arrivals.missing(of: total).isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
        let missing = arrivals.missing(of: total)
        print("sentinel: \(Self.failoverRounds) rounds at \(Self.failoverRate)/s, \(total) sent, \(missing.count) lost, \(arrivals.count - (total - missing.count)) duplicates, longest gap \(gaps.max()?.humanReadable ?? "-")")
        #expect(missing.isEmpty, "\(missing.count) of \(total) lost, first \(missing.prefix(10))")
        #expect(sender.statistics.publishErrors == 0)
        #expect(receiver.status.state == "connected")
        #expect(sender.status.state == "connected")
        await sender.shutdown()
        await receiver.shutdown()
    }

    @Test("a server the sentinels name that is a replica is refused by its ROLE")
    func replicaIsRefused() async throws {
        let group = try await SentinelTestGroup.start()
        defer { group.stop() }
        let replica = group.servers[1]
        var settings = RedisConnector.Settings(
            url: try RedisURL("redis://127.0.0.1:\(replica.port)"), connectTimeout: .seconds(2),
            limits: HiredisReader.Limits(maxReplyBytes: 1 << 20), clientName: "test"
        )
        settings.requiresMaster = true
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let error = await #expect(throws: RedisAdapterError.self) {
            _ = try await RedisConnector.connect(settings, on: eventLoop) { RedisCommandHandler() }.get()
        }
        #expect(error?.description.contains("is a slave, not a master") == true, "\(String(describing: error))")
        settings.url = try RedisURL("redis://127.0.0.1:\(group.servers[0].port)")
        let channel = try await RedisConnector.connect(settings, on: eventLoop) { RedisCommandHandler() }.get()
        try await channel.close()
    }

    @Test("a master name the sentinels do not know, or no sentinel reachable, is a clear startup error")
    func startupErrors() async throws {
        let group = try await SentinelTestGroup.start()
        defer { group.stop() }
        let unknown = RedisAdapter(
            configuration: .init(url: try RedisURL(group.url(masterName: "nosuchmaster")), nodeName: "a"), logger: testLogger("a")
        )
        let error = await #expect(throws: RedisAdapterError.self) { try await unknown.start(deliver: { _ in }, control: { _ in }) }
        let text = error?.description ?? ""
        #expect(text.contains("no sentinel named the master \"nosuchmaster\""), "\(text)")
        #expect(text.contains("monitors no master named \"nosuchmaster\""), "\(text)")

        let refusing = [try RefusingPort(), try RefusingPort()]
        let ports = refusing.map(\.port)
        let url = "redis+sentinel://:secret@127.0.0.1:\(ports[0]),127.0.0.1:\(ports[1])/mymaster"
        let unreachable = RedisAdapter(configuration: .init(url: try RedisURL(url), nodeName: "a"), logger: testLogger("a"))
        let second = await #expect(throws: RedisAdapterError.self) { try await unreachable.start(deliver: { _ in }, control: { _ in }) }
        let secondText = second?.description ?? ""
        #expect(secondText.contains("127.0.0.1:\(ports[0]): cannot reach Redis"), "\(secondText)")
        #expect(secondText.contains("127.0.0.1:\(ports[1]): cannot reach Redis"), "\(secondText)")
        #expect(!secondText.contains("secret"))
        withExtendedLifetime(refusing) {}
    }

    @Test("sentinels with a password: refused without it, clearly; connected with sentinel.password")
    func sentinelPassword() async throws {
        let group = try await SentinelTestGroup.start(sentinels: 1, password: "sentinel-pw")
        defer { group.stop() }
        let url = try RedisURL(group.url())
        let without = RedisAdapter(configuration: .init(url: url, nodeName: "a"), logger: testLogger("a"))
        let error = await #expect(throws: RedisAdapterError.self) { try await without.start(deliver: { _ in }, control: { _ in }) }
        #expect(error?.description.contains("requires a password (NOAUTH)") == true, "\(String(describing: error))")
        #expect(error?.description.contains("sentinel.password") == true)

        var configuration = RedisAdapterConfiguration(url: url, nodeName: "a")
        configuration.sentinelPassword = "not-the-pw"
        let wrong = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        let wrongError = await #expect(throws: RedisAdapterError.self) { try await wrong.start(deliver: { _ in }, control: { _ in }) }
        #expect(wrongError?.description.contains("refused the credentials") == true, "\(String(describing: wrongError))")
        #expect(wrongError?.description.contains("not-the-pw") == false)
        #expect(wrongError?.description.contains("sentinel.password") == true)

        configuration.sentinelPassword = "sentinel-pw"
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        #expect(adapter.status.state == "connected")
        await adapter.shutdown()
    }

    @Test("Sentinel URLs: sentinels, default port 26379, master name, TLS; the password never shown")
    func parsesSentinelURLs() throws {
        let url = try RedisURL("redis+sentinel://app:pw@10.0.0.1,10.0.0.2:26380,[::1]:26381/mymaster")
        #expect(url.sentinel?.sentinels == [
            RedisHostPort(host: "10.0.0.1", port: 26379), RedisHostPort(host: "10.0.0.2", port: 26380), RedisHostPort(host: "::1", port: 26381),
        ])
        #expect(url.sentinel?.masterName == "mymaster")
        #expect(url.username == "app" && url.password == "pw" && !url.tls)
        #expect(url.description == "redis+sentinel://app:***@10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/mymaster")
        #expect(try RedisURL("rediss+sentinel://h:1/m").tls)
        #expect(try RedisURL("redis://h:1").sentinel == nil)
        for bad in ["redis+sentinel://h1,h2", "redis+sentinel://h1,,h2/m", "redis+sentinel://h1/", "redis+sentinel://h1:0/m"] {
            #expect(throws: RedisURLError.self, "\(bad)") { try RedisURL(bad) }
        }
    }

    @Test("sentinel replies: +switch-master announcements and master addresses are read, malformed ones refused")
    func readsSentinelReplies() throws {
        #expect(RedisSentinelWatcher.newMaster(in: "mymaster 127.0.0.1 6379 127.0.0.1 6380", masterName: "mymaster") == RedisHostPort(host: "127.0.0.1", port: 6380))
        #expect(RedisSentinelWatcher.newMaster(in: "other 127.0.0.1 6379 127.0.0.1 6380", masterName: "mymaster") == nil)
        #expect(RedisSentinelWatcher.newMaster(in: "mymaster 127.0.0.1 6379 127.0.0.1 70000", masterName: "mymaster") == nil)
        #expect(RedisSentinelWatcher.newMaster(in: "mymaster 127.0.0.1", masterName: "mymaster") == nil)
        let address = RedisValue.array([.bulkString(ByteBuffer(string: "10.0.0.9")), .bulkString(ByteBuffer(string: "6390"))])
        #expect(try RedisSentinelDiscovery.masterAddress(address, masterName: "m") == RedisHostPort(host: "10.0.0.9", port: 6390))
        #expect(throws: RedisSentinelReplyError.self) { try RedisSentinelDiscovery.masterAddress(.null, masterName: "m") }
        #expect(throws: RedisSentinelReplyError.self) { try RedisSentinelDiscovery.masterAddress(.integer(3), masterName: "m") }
        let badPort = RedisValue.array([.bulkString(ByteBuffer(string: "h")), .bulkString(ByteBuffer(string: "x"))])
        #expect(throws: RedisSentinelReplyError.self) { try RedisSentinelDiscovery.masterAddress(badPort, masterName: "m") }
    }
}
