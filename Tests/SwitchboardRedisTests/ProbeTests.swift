import Switchboard
import SwitchboardClient
@testable import SwitchboardRedis
import Testing

/// A connection that stays up but goes silent is found by the probe.
@Suite("Redis probe")
struct ProbeTests {
    @Test("connections that fall silent are detected by the probe and replaced; delivery resumes")
    func silentConnectionsAreReplaced() async throws {
        let redis = try await RedisTestServer.start()
        let proxy = try await TestProxy(targetPort: redis.port)
        // Node a, behind the proxy, probes often and briefly; node b keeps
        // the default probe, which a busy machine does not trip.
        try await TestCluster.with(nodes: 2, redis: redis, urls: ["redis://127.0.0.1:\(proxy.port)", redis.url], configure: { configuration in
            guard configuration.nodeName == "node-a" else { return }
            configuration.probeInterval = .milliseconds(200)
            configuration.probeTimeout = .milliseconds(300)
        }) { cluster in
            let (_, room) = try await cluster.joined(0, "room:probe")
            // Delivery works before the silence (a probe as short as this one
            // may time out on a loaded machine and replace the connections,
            // so shout until one arrives).
            var delivered = false
            let started = ContinuousClock.now
            while !delivered, ContinuousClock.now - started < .seconds(5) {
                try await cluster.servers[1].pubsub.broadcast(topic: "room:probe", event: "shout", payload: .json(["n": 0]))
                delivered = (try? await room.nextMessage(event: "shout", timeout: .milliseconds(200))) != nil
            }
            #expect(delivered, "no delivery to node a before the silence")

            proxy.silenceExisting()
            let silenced = ContinuousClock.now
            var resumed = false
            while ContinuousClock.now - silenced < .seconds(5) {
                try await cluster.servers[1].pubsub.broadcast(topic: "room:probe", event: "shout", payload: .json(["n": 1]))
                let shout = try? await room.nextMessage(timeout: .milliseconds(100)) { $0.event == "shout" && $0.payload == .json(["n": 1]) }
                if shout != nil {
                    resumed = true
                    break
                }
            }
            #expect(resumed, "delivery to the silenced node did not resume within 5 s")
            #expect(cluster.adapters[0].statistics.probeFailures >= 1)
            #expect(cluster.adapters[0].statistics.reconnects >= 1)
            #expect(cluster.adapters[1].statistics.probeFailures == 0)
        }
        await proxy.close()
    }

    @Test("messages that are not envelopes are counted and skipped; the node carries on")
    func malformedEnvelopesAreCounted() async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            let (_, room) = try await cluster.joined(0, "room:m")
            try cluster.redis.command(["PUBLISH", "switchboard:n:node-a", "not an envelope"])
            try cluster.redis.command(["PUBLISH", "switchboard:t:room:m", "SB\u{9}future version"])
            try await eventually(within: .seconds(2)) { cluster.adapters[0].statistics.malformedEnvelopes == 2 }
            try await cluster.servers[1].pubsub.broadcast(topic: "room:m", event: "shout", payload: .json(["ok": true]))
            #expect(try await room.nextMessage(event: "shout").payload == .json(["ok": true]))
            #expect(cluster.adapters[0].status.state == "connected")
        }
    }
}
