import NIOCore
import Switchboard
import SwitchboardClient
import SwitchboardTesting
@testable import SwitchboardRedis
import Testing

/// Redis killed with SIGKILL and restarted on the same port, under nodes that
/// must survive it.
@Suite("Redis outages", .serialized)
struct OutageTests {
    @Test("Redis killed for 3 s: nodes stay up, clients stay connected, delivery resumes within 5 s")
    func nodesSurviveRedisBeingKilled() async throws {
        let redis = try await RedisTestServer.start()
        try await TestCluster.with(nodes: 2, redis: redis) { cluster in
        let (clientA, roomA) = try await cluster.joined(0, "room:outage")
        let (clientB, roomB) = try await cluster.joined(1, "room:outage")
        _ = try await roomA.push("shout", ["n": 0])
        _ = try await roomB.nextMessage(event: "shout")

        redis.kill()
        try await eventually(within: .seconds(2)) { cluster.adapters[0].status.state == "reconnecting" }
        #expect(cluster.adapters[0].status.detail?.contains("reconnecting to") == true)

        // Local traffic goes on: the shout is answered and reaches A's own client.
        let reply = try await roomA.push("shout", ["n": 1])
        #expect(reply.status == .ok)
        #expect(try await roomA.nextMessage(event: "shout").payload == .json(["n": 0]))
        #expect(try await roomA.nextMessage(event: "shout").payload == .json(["n": 1]))
        // Broadcasts meanwhile are dropped for the other nodes and counted. The
        // publisher connection may take a moment longer than the subscriber to
        // notice Redis is gone (a publish written into the dying socket is lost
        // with it), so shout until one is counted.
        var attempts = 0
        while cluster.adapters[0].statistics.dropped == 0, attempts < 30 {
            _ = try await roomA.push("shout", ["n": 1])
            attempts += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(cluster.adapters[0].statistics.dropped >= 1)
        // A new client can join meanwhile; its join does not wait for Redis.
        let (_, lateRoom) = try await cluster.joined(1, "room:late")

        try await Task.sleep(for: .seconds(3))
        try await redis.launch()
        let back = ContinuousClock.now

        // Delivery resumes: keep shouting on A until B hears one.
        var resumed = false
        while ContinuousClock.now - back < .seconds(5) {
            _ = try await roomA.push("shout", ["n": 2])
            if (try? await roomB.nextMessage(event: "shout", timeout: .milliseconds(100))) != nil {
                resumed = true
                break
            }
        }
        #expect(resumed, "cross-node delivery did not resume within 5 s of Redis coming back")
        // The topic joined during the outage was subscribed on reconnect.
        try await cluster.servers[0].pubsub.broadcast(topic: "room:late", event: "shout", payload: .json(["late": true]))
        #expect(try await lateRoom.nextMessage(event: "shout").payload == .json(["late": true]))

        #expect(await clientA.isConnected)
        #expect(await clientB.isConnected)
        try await eventually(within: .seconds(3)) {
            cluster.adapters.allSatisfy { $0.status.state == "connected" }
        }
        #expect(cluster.adapters[0].statistics.reconnects >= 2)
        }
    }

    @Test("with outage_buffer, messages published while Redis is down arrive after it, in order")
    func outageBufferReplaysInOrder() async throws {
        let redis = try await RedisTestServer.start()
        try await TestCluster.with(nodes: 2, redis: redis, configure: { configuration in
            configuration.outageBuffer = 100
            configuration.outageReplayDelay = .milliseconds(1500)
            configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .seconds(1))
        }) { cluster in
        let (_, roomB) = try await cluster.joined(1, "room:buffered")

        redis.kill()
        // The publisher itself must know (not only the subscriber): a publish
        // written to a connection not yet seen dead is lost, at most once.
        try await eventually(within: .seconds(2)) { cluster.adapters[0].status.detail?.contains("publisher 0:") == true }
        for index in 1...20 {
            try await cluster.servers[0].pubsub.broadcast(topic: "room:buffered", event: "seq", payload: .json(["i": .int(index)]))
        }
        #expect(cluster.adapters[0].statistics.buffered == 20)
        try await Task.sleep(for: .seconds(1))
        try await redis.launch()

        var received: [Int] = []
        for _ in 1...20 {
            let message = try await roomB.nextMessage(event: "seq", timeout: .seconds(5))
            if case .json(let json) = message.payload, let index = json["i"]?.intValue {
                received.append(index)
            }
        }
        #expect(received == Array(1...20))
        #expect(cluster.adapters[0].statistics.replayed == 20)
        }
    }

    /// Waits until every publisher connection of node 0 knows Redis is gone:
    /// a publish written to a connection not yet seen dead is lost, not buffered.
    private static func publishersLost(_ cluster: TestCluster, count: Int) async throws {
        try await eventually(within: .seconds(3)) {
            let detail = cluster.adapters[0].status.detail ?? ""
            return (0..<count).allSatisfy { detail.contains("publisher \($0):") }
        }
    }

    @Test("the outage buffer is the node's: 2 publishers and outage_buffer 6 keep 6 messages in all, replayed after Redis returns")
    func outageBufferIsNodeWide() async throws {
        let redis = try await RedisTestServer.start()
        try await TestCluster.with(nodes: 2, redis: redis, configure: { configuration in
            configuration.publishers = 2
            configuration.outageBuffer = 6
            configuration.outageReplayDelay = .milliseconds(1000)
            configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
        }) { cluster in
        // Twenty topics: both publisher connections get some of them.
        let topics = (0..<20).map { "room:budget-\($0)" }
        let client = try await cluster.client(1)
        var rooms: [ClientChannel] = []
        for topic in topics {
            let room = client.channel(topic)
            _ = try await room.join()
            rooms.append(room)
        }

        redis.kill()
        try await Self.publishersLost(cluster, count: 2)
        for round in 1...2 {
            for topic in topics {
                try await cluster.servers[0].pubsub.broadcast(topic: topic, event: "seq", payload: .json(["round": .int(round)]))
            }
        }
        let during = cluster.adapters[0].statistics
        #expect(during.buffered == 6, "buffered \(during.buffered), not 6 in all")
        #expect(during.outageBufferMessages == 6)
        #expect(during.outageBufferBytes > 0)
        #expect(during.dropped >= 34)
        let detail = cluster.adapters[0].status.detail ?? ""
        #expect(detail.contains("outage buffer: 6 of 6 messages"), "\(detail)")
        // And in /metrics, recorded every second.
        let port = try #require(cluster.servers[0].localPort)
        try await eventually(within: .seconds(3)) {
            try await PrometheusText.scrape("switchboard_pubsub_buffered_messages", port: port) == 6
        }
        #expect(try await PrometheusText.scrape("switchboard_pubsub_buffered_bytes", port: port) == Double(during.outageBufferBytes))

        try await redis.launch()
        // The first six publishes were kept: round 1 of the first six topics.
        for room in rooms.prefix(6) {
            let message = try await room.nextMessage(event: "seq", timeout: .seconds(5))
            #expect(message.payload == .json(["round": 1]))
        }
        try await eventually(within: .seconds(3)) { cluster.adapters[0].statistics.replayed == 6 }
        let after = cluster.adapters[0].statistics
        #expect(after.outageBufferMessages == 0 && after.outageBufferBytes == 0)
        try await eventually(within: .seconds(3)) {
            try await PrometheusText.scrape("switchboard_pubsub_buffered_messages", port: port) == 0
        }
        // Nothing more came: the other publishes were dropped.
        for room in rooms.dropFirst(6) {
            #expect((try? await room.nextMessage(event: "seq", timeout: .milliseconds(20))) == nil)
        }
        }
    }

    @Test("outage_buffer_bytes caps the buffer in bytes, and the room comes back after the replay")
    func outageBufferBytesLimit() async throws {
        let redis = try await RedisTestServer.start()
        let limit = 2000
        try await TestCluster.with(nodes: 2, redis: redis, configure: { configuration in
            configuration.outageBuffer = 100
            configuration.outageBufferBytes = limit
            configuration.outageReplayDelay = .milliseconds(1000)
            configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
        }) { cluster in
        let (_, roomB) = try await cluster.joined(1, "room:bytes")
        // Messages of one size, about 350 bytes each as formatted commands.
        let padding = String(repeating: "x", count: 300)
        var kept = 0
        for outage in 1...2 {
            redis.kill()
            try await Self.publishersLost(cluster, count: 1)
            let before = cluster.adapters[0].statistics.buffered
            for _ in 1...20 {
                try await cluster.servers[0].pubsub.broadcast(topic: "room:bytes", event: "pad", payload: .json(["pad": .string(padding)]))
            }
            let during = cluster.adapters[0].statistics
            let buffered = during.buffered - before
            #expect(buffered > 0 && buffered < 20, "outage \(outage): \(buffered) buffered")
            #expect(during.outageBufferMessages == buffered)
            let size = during.outageBufferBytes / max(buffered, 1)
            #expect(size > 300 && during.outageBufferBytes <= limit)
            // As many as fit, and not one more.
            #expect(buffered == limit / size, "outage \(outage): \(buffered) messages of \(size) bytes in \(limit)")
            if outage == 1 {
                kept = buffered
            } else {
                // The first replay gave the room back.
                #expect(buffered == kept)
            }

            try await redis.launch()
            for _ in 0..<buffered {
                _ = try await roomB.nextMessage(event: "pad", timeout: .seconds(5))
            }
            try await eventually(within: .seconds(3)) { cluster.adapters[0].statistics.outageBufferBytes == 0 }
            #expect(cluster.adapters[0].statistics.outageBufferMessages == 0)
            try await eventually(within: .seconds(3)) { cluster.adapters.allSatisfy { $0.status.state == "connected" } }
        }
        }
    }

    @Test("messages Redis had not answered when it died go back into the node's buffer as far as it has room; the rest are counted as dropped")
    func unansweredMessagesTakeRoomInTheBudget() async throws {
        let redis = try await RedisTestServer.start()
        try await TestCluster.with(nodes: 1, redis: redis, configure: { configuration in
            configuration.publishers = 2
            configuration.outageBuffer = 5
            configuration.outageReplayDelay = .milliseconds(500)
            configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
            // No probe: nothing notices the stopped server before it is killed.
            configuration.probeInterval = .seconds(60)
        }) { cluster in
        let start = cluster.adapters[0].statistics
        redis.pause()
        // Written on both connections (twenty topics: both get some), never answered.
        for index in 0..<20 {
            try await cluster.servers[0].pubsub.broadcast(topic: "room:unanswered-\(index)", event: "n", payload: .json(["i": .int(index)]))
        }
        try await Task.sleep(for: .milliseconds(300))
        let before = cluster.adapters[0].statistics
        #expect(before.buffered == 0 && before.dropped == 0 && before.published - start.published >= 20)
        redis.kill()
        try await eventually(within: .seconds(3)) {
            let detail = cluster.adapters[0].status.detail ?? ""
            return detail.contains("publisher 0:") && detail.contains("publisher 1:")
        }
        // Each connection kept up to 5 for re-sending; the node has room for 5 in all.
        let after = cluster.adapters[0].statistics
        #expect(after.buffered == 5, "\(after.buffered) kept")
        #expect(after.outageBufferMessages == 5)
        #expect(after.dropped >= 1, "the unanswered messages without room must be counted as dropped")
        #expect(after.unconfirmed - start.unconfirmed >= 20)

        try await redis.launch()
        try await eventually(within: .seconds(5)) { cluster.adapters[0].statistics.replayed == 5 }
        #expect(cluster.adapters[0].statistics.outageBufferMessages == 0)
        }
    }
}
