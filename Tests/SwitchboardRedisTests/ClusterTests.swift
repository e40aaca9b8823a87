import NIOCore
import Switchboard
import SwitchboardClient
@testable import SwitchboardRedis
import Synchronization
import Testing

/// Several in-process nodes on one real redis-server: every broadcast path,
/// in both modes.
@Suite("Redis cluster", .serialized)
struct ClusterTests {
    @Test("a shout on A reaches the clients of B and C exactly once", arguments: RedisMode.allCases)
    func shoutReachesEveryNodeOnce(mode: RedisMode) async throws {
        try await TestCluster.with(nodes: 3, mode: mode) { cluster in
            let (_, roomA) = try await cluster.joined(0, "room:x")
            let (_, roomB) = try await cluster.joined(1, "room:x")
            let (_, roomC) = try await cluster.joined(2, "room:x")

            // Counted from here: the nodes' start (presence's hello) is not the shout's.
            let before = cluster.adapters.map(\.statistics.received)
            let reply = try await roomA.push("shout", ["text": "hi"])
            #expect(reply.status == .ok)
            for room in [roomA, roomB, roomC] {
                let message = try await room.nextMessage(event: "shout")
                #expect(message.payload == .json(["text": "hi"]))
            }
            // Exactly once: nothing more within a generous window.
            for room in [roomA, roomB, roomC] {
                await #expect(throws: ClientError.self) { try await room.nextMessage(event: "shout", timeout: .milliseconds(300)) }
            }
            #expect(cluster.adapters[1].statistics.received - before[1] == 1)
            #expect(cluster.adapters[2].statistics.received - before[2] == 1)
            #expect(cluster.adapters[0].statistics.received - before[0] == 0)
        }
    }

    @Test("a binary shout crosses nodes as a binary frame")
    func binaryPayloadsCrossNodes() async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            let (_, roomA) = try await cluster.joined(0, "room:bin")
            let (_, roomB) = try await cluster.joined(1, "room:bin")
            let bytes = ByteBuffer(bytes: [0, 1, 2, 254, 255])
            _ = try await roomA.push("shout", payload: .binary(bytes))
            #expect(try await roomB.nextMessage(event: "shout").payload == .binary(bytes))
        }
    }

    @Test("text and binary shouts cross nodes in either envelope version", arguments: [1, 2])
    func shoutsCrossInEitherEnvelopeVersion(version: Int) async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            for adapter in cluster.adapters {
                adapter.peersRead(wireVersion: version)
                #expect(adapter.envelopeVersion == UInt8(version))
            }
            let (_, roomA) = try await cluster.joined(0, "room:v")
            let (_, roomB) = try await cluster.joined(1, "room:v")
            let long = String(repeating: "é", count: 200)
            _ = try await roomA.push("shout", ["text": .string(long)])
            #expect(try await roomB.nextMessage(event: "shout").payload == .json(["text": .string(long)]))
            let bytes = ByteBuffer(bytes: [0, 1, 2, 254, 255])
            _ = try await roomB.push("shout", payload: .binary(bytes))
            #expect(try await roomA.nextMessage(event: "shout").payload == .json(["text": .string(long)]))
            #expect(try await roomA.nextMessage(event: "shout").payload == .binary(bytes))
            #expect(cluster.adapters[0].statistics.malformedEnvelopes == 0)
            #expect(cluster.adapters[1].statistics.malformedEnvelopes == 0)
        }
    }

    @Test("control messages travel as broadcasts of the topic older releases reserved, and never reach channel delivery")
    func controlMessagesKeepTheOldWireForm() async throws {
        try await TestCluster.with(nodes: 1) { cluster in
            let received = Mutex<[String]>([])
            let listener = RedisAdapter(configuration: try TestCluster.adapterConfiguration(name: "listener", redis: cluster.redis), logger: testLogger("listener"))
            try await listener.start(
                deliver: { message in received.withLock { $0.append("deliver \(message.topic)") } },
                control: { message in
                    // The cluster's own node sends its reports and presence syncs too.
                    guard message.originNode == "sender" else { return }
                    received.withLock { $0.append("control \(message.event) from \(message.originNode)") }
                }
            )
            let sender = RedisAdapter(configuration: try TestCluster.adapterConfiguration(name: "sender", redis: cluster.redis), logger: testLogger("sender"))
            try await sender.start(deliver: { _ in }, control: { _ in })
            #expect(listener.reservedTopics == ["switchboard:cluster"])

            // What a release from before the control plane sends: a broadcast of its reserved topic.
            let payload: JSONValue = ["node": "sender"]
            var encoded = ByteBuffer()
            _ = try V2Serializer().encodeServerFrame(.message(Message(topic: "switchboard:cluster", event: "report", payload: .json(payload))), into: &encoded)
            try await sender.broadcast(PubSubMessage(topic: "switchboard:cluster", event: "report", payload: .json(payload), originNode: "sender", encoded: encoded))
            // And what this release sends, to every node and to one.
            try await sender.sendControl(ControlMessage(event: "report", payload: payload, originNode: "sender"), to: nil)
            try await sender.sendControl(ControlMessage(event: "shed", payload: ["count": 1], originNode: "sender"), to: "listener")
            try await eventually(within: .seconds(3)) { received.withLock { $0.count } >= 3 }
            try await Task.sleep(for: .milliseconds(100))
            #expect(received.withLock { $0 } == ["control report from sender", "control report from sender", "control shed from sender"])
            await sender.shutdown()
            await listener.shutdown()
        }
    }

    @Test("nodes write envelope version 1 while a peer reports only version 1, version 2 once every live peer reads it")
    func envelopeVersionFollowsThePeersReports() async throws {
        try await TestCluster.with(nodes: 2, configureServer: { $0.clusterReportInterval = .milliseconds(100) }) { cluster in
            // A node of the release before envelope version 2: its report has no wire_version.
            let old = RedisAdapter(configuration: try TestCluster.adapterConfiguration(name: "node-old", redis: cluster.redis), logger: testLogger("node-old"))
            try await old.start(deliver: { _ in }, control: { _ in })
            let oldReport: JSONValue = [
                "node": "node-old", "version": "0.9.0", "connections": 0, "channels": 0, "topics": 0, "state": "serving",
                "accepting": true, "pubsub_state": "connected", "uptime_seconds": 10.0,
            ]
            let reporter = Task {
                while !Task.isCancelled {
                    try? await old.sendControl(ControlMessage(event: "report", payload: oldReport, originNode: "node-old"), to: nil)
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let (_, roomA) = try await cluster.joined(0, "room:rolling")
            // Past two report intervals: the nodes have heard each other and the old one.
            try await Task.sleep(for: .milliseconds(700))
            for adapter in cluster.adapters {
                #expect(adapter.envelopeVersion == 1, "an old node is in the cluster")
            }
            try await cluster.servers[1].pubsub.broadcast(topic: "room:rolling", event: "shout", payload: .json(["n": 1]))
            #expect(try await roomA.nextMessage(event: "shout").payload == .json(["n": 1]))

            // The old node leaves; once its report has expired, every node writes version 2.
            reporter.cancel()
            await reporter.value
            await old.shutdown()
            try await eventually(within: .seconds(3)) { cluster.adapters.allSatisfy { $0.envelopeVersion == 2 } }
            try await cluster.servers[1].pubsub.broadcast(topic: "room:rolling", event: "shout", payload: .json(["n": 2]))
            #expect(try await roomA.nextMessage(event: "shout").payload == .json(["n": 2]))
            #expect(cluster.adapters[0].statistics.malformedEnvelopes == 0)
        }
    }

    @Test("a server-side broadcast on C reaches A; POST /api/broadcast on B reaches A", arguments: RedisMode.allCases)
    func serverBroadcastReachesOtherNodes(mode: RedisMode) async throws {
        try await TestCluster.with(nodes: 3, mode: mode) { cluster in
            let (_, roomA) = try await cluster.joined(0, "user:1")

            try await cluster.servers[2].pubsub.broadcast(topic: "user:1", event: "notice", payload: .json(["n": 1]))
            #expect(try await roomA.nextMessage(event: "notice").payload == .json(["n": 1]))

            let status = try await HTTPPost.send(
                port: cluster.servers[1].localPort!, path: "/api/broadcast", apiKey: TestCluster.apiKey,
                body: #"{"topic":"user:1","event":"notice","payload":{"n":2}}"#
            )
            #expect(status == 202)
            #expect(try await roomA.nextMessage(event: "notice").payload == .json(["n": 2]))
        }
    }

    @Test("broadcastFrom skips only the sender, on every node", arguments: RedisMode.allCases)
    func broadcastFromExcludesOnlyTheSender(mode: RedisMode) async throws {
        try await TestCluster.with(nodes: 2, mode: mode, endpoints: [TestChannels.endpoint]) { cluster in
            let (_, sender) = try await cluster.joined(0, "room:from")
            let (_, neighbour) = try await cluster.joined(0, "room:from")
            let (_, remote) = try await cluster.joined(1, "room:from")

            _ = try await sender.push("from", ["text": "hello"])
            #expect(try await neighbour.nextMessage(event: "said").payload == .json(["text": "hello"]))
            #expect(try await remote.nextMessage(event: "said").payload == .json(["text": "hello"]))
            await #expect(throws: ClientError.self) { try await sender.nextMessage(event: "said", timeout: .milliseconds(300)) }
        }
    }

    @Test("directBroadcast reaches only its node", arguments: RedisMode.allCases)
    func directBroadcastReachesOnlyItsNode(mode: RedisMode) async throws {
        try await TestCluster.with(nodes: 3, mode: mode) { cluster in
            let rooms = try await [cluster.joined(0, "room:d").1, cluster.joined(1, "room:d").1, cluster.joined(2, "room:d").1]

            try await cluster.servers[0].pubsub.directBroadcast(to: "node-b", topic: "room:d", event: "direct", payload: .json(["to": "b"]))
            #expect(try await rooms[1].nextMessage(event: "direct").payload == .json(["to": "b"]))
            for index in [0, 2] {
                await #expect(throws: ClientError.self) { try await rooms[index].nextMessage(event: "direct", timeout: .milliseconds(300)) }
            }
            await #expect(throws: PubSubError.self) {
                try await cluster.servers[0].pubsub.directBroadcast(to: "node-nobody", topic: "room:d", event: "direct", payload: .empty)
            }
        }
    }

    @Test("a join answered on A receives a broadcast sent from B right after it, 1,000 times (per_topic)")
    func joinThenBroadcastRace() async throws {
        try await TestCluster.with(nodes: 2, mode: .perTopic) { cluster in
            let lanes = 4
            let iterations = 1_000
            let pubsubB = cluster.servers[1].pubsub
            try await withThrowingTaskGroup(of: Int.self) { group in
                for lane in 0..<lanes {
                    let client = try await cluster.client(0, user: "\(lane)")
                    group.addTask {
                        var delivered = 0
                        for iteration in stride(from: lane, to: iterations, by: lanes) {
                            let topic = "room:race-\(iteration)"
                            let channel = client.channel(topic)
                            _ = try await channel.join()
                            try await pubsubB.broadcast(topic: topic, event: "shout", payload: .json(["i": .int(iteration)]))
                            let message = try await channel.nextMessage(event: "shout", timeout: .seconds(2))
                            if message.payload == .json(["i": .int(iteration)]) { delivered += 1 }
                            await channel.leave()
                        }
                        return delivered
                    }
                }
                var delivered = 0
                for try await count in group { delivered += count }
                #expect(delivered == iterations)
            }
        }
    }

    @Test("two nodes with the same name are detected and reported")
    func duplicateNodeNamesAreDetected() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        var configuration = try TestCluster.adapterConfiguration(name: "twin", redis: redis)
        configuration.probeInterval = .milliseconds(100)
        let first = RedisAdapter(configuration: configuration, logger: testLogger("twin-1"))
        let second = RedisAdapter(configuration: configuration, logger: testLogger("twin-2"))
        try await first.start(deliver: { _ in }, control: { _ in })
        try await second.start(deliver: { _ in }, control: { _ in })

        try await eventually(within: .seconds(3)) {
            first.status.detail?.contains("duplicate node name twin detected") == true
                && second.status.detail?.contains("duplicate node name twin detected") == true
        }
        #expect(first.statistics.duplicateNodeEnvelopes > 0)
        #expect(first.status.state == "connected")
        await first.shutdown()
        await second.shutdown()
    }
}

/// A channel for `room:*` whose `from` event broadcasts `said` to everyone
/// but the sender.
enum TestChannels {
    struct FromChannel: Switchboard.Channel {
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
            .ok([:])
        }

        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            try await context.broadcastFrom("said", payload)
            return .ok()
        }
    }

    static var endpoint: SocketEndpoint {
        var router = ChannelRouter()
        router.channel("room:*") { FromChannel() }
        return SocketEndpoint(socket: DemoSocket(), router: router)
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `within`.
func eventually(within limit: Duration, _ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("condition not met within \(limit)", sourceLocation: sourceLocation)
}

@Suite("Redis publishing limits")
struct RedisPublishingLimitTests {
    @Test("a topic or event other nodes would refuse is refused at the sender, which keeps running")
    func oversizedNamesAreRefused() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        let adapter = RedisAdapter(configuration: try TestCluster.adapterConfiguration(name: "limits", redis: redis), logger: testLogger("limits"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        for (topic, event) in [(String(repeating: "t", count: 256), "e"), ("room:1", String(repeating: "e", count: 70_000))] {
            let message = PubSubMessage(topic: topic, event: event, payload: .json([:]), originNode: "limits")
            await #expect(throws: PubSubError.self) { try await adapter.broadcast(message) }
            await #expect(throws: PubSubError.self) { try await adapter.directBroadcast(to: "limits", message) }
        }
        #expect(adapter.statistics.dropped == 4)
        try await adapter.broadcast(PubSubMessage(topic: "room:1", event: "fine", payload: .json([:]), originNode: "limits"))
        #expect(adapter.statistics.published >= 1)
        await adapter.shutdown()
    }
}
