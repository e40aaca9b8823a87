#if canImport(Glibc)
import Glibc
#endif
import Switchboard
@testable import SwitchboardRedis
import Synchronization
import Testing

/// A numbered stream from one adapter to another while Redis dies (SIGKILL)
/// or stops (SIGSTOP) under it, with the outage buffer on: every number must
/// arrive. Duplicates are tolerated (a PUBLISH Redis executed whose reply was
/// lost is sent again); gaps are not.
@Suite("Redis outages mid-stream", .serialized)
struct DeliveryThroughOutageTests {
    static let topic = "room:stream"

    /// The numbers a receiving adapter delivered, in arrival order.
    final class Received: Sendable {
        private let numbers = Mutex<[Int]>([])

        func append(_ number: Int) {
            numbers.withLock { $0.append(number) }
        }

        var all: [Int] { numbers.withLock { $0 } }

        /// The numbers of `1...total` not received.
        func missing(of total: Int) -> [Int] {
            let seen = Set(all)
            return (1...total).filter { !seen.contains($0) }
        }
    }

    /// A sender and a receiver (subscribed to ``topic``) on `redis`.
    static func adapters(redis: RedisTestServer) async throws -> (sender: RedisAdapter, receiver: RedisAdapter, received: Received) {
        let configure = { (configuration: inout RedisAdapterConfiguration) in
            configuration.outageBuffer = 20_000
            configuration.reconnectBackoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
            configuration.outageReplayDelay = .milliseconds(1500)
        }
        let received = Received()
        let receiver = RedisAdapter(
            configuration: try TestCluster.adapterConfiguration(name: "receiver", redis: redis, configure: configure),
            logger: testLogger("receiver")
        )
        try await receiver.start(deliver: { message in
            if case .json(let json) = message.payload, let number = json["n"]?.intValue {
                received.append(number)
            }
        }, control: { _ in })
        try await receiver.topicActivated(topic)
        let sender = RedisAdapter(
            configuration: try TestCluster.adapterConfiguration(name: "sender", redis: redis, configure: configure),
            logger: testLogger("sender")
        )
        try await sender.start(deliver: { _ in }, control: { _ in })
        return (sender, receiver, received)
    }

    static func publish(_ number: Int, on adapter: RedisAdapter) async throws {
        try await adapter.broadcast(PubSubMessage(topic: topic, event: "n", payload: .json(["n": .int(number)]), originNode: adapter.nodeName))
    }

    /// Waits (at most `limit`) until `received` has every number of `1...total`.
    static func waitForAll(_ received: Received, total: Int, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, !received.missing(of: total).isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("Redis killed with SIGKILL while a stream is published, restarted on its port: with outage_buffer, every message arrives")
    func killedMidStreamLosesNothing() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        let (sender, receiver, received) = try await Self.adapters(redis: redis)

        let total = 5000
        var restart: Task<Void, any Error>?
        for number in 1...total {
            try await Self.publish(number, on: sender)
            switch number {
            case ...2000:
                if number % 50 == 0 { try await Task.sleep(for: .milliseconds(1)) }
            case 2500:
                // Killed in the middle of a burst published as fast as it can
                // go: messages are in flight (written, unread, unanswered),
                // and more follow before the connection is seen dead.
                redis.kill()
                restart = Task {
                    try await Task.sleep(for: .seconds(1))
                    try await redis.launch()
                }
            case ...3000:
                break
            default:
                if number % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        try await restart?.value

        try await Self.waitForAll(received, total: total, within: .seconds(20))
        let missing = received.missing(of: total)
        #expect(missing.isEmpty, "\(missing.count) of \(total) messages never arrived: \(missing.prefix(20))")
        // Each number arrives first in the order it was published.
        var seen = Set<Int>()
        let firsts = received.all.filter { seen.insert($0).inserted }
        #expect(firsts == firsts.sorted(), "messages arrived out of order")
        let statistics = sender.statistics
        #expect(statistics.reconnects >= 1)
        #expect(statistics.buffered > 0)
        #expect(statistics.dropped == 0)
        print("SIGKILL mid-stream: \(statistics.buffered) messages kept, \(statistics.replayed) replayed, \(received.all.count - Set(received.all).count) duplicates")
        await sender.shutdown()
        await receiver.shutdown()
    }

    @Test("Redis stopped with SIGSTOP: noticed within 2 s; after SIGCONT delivery resumes and, with outage_buffer, every message arrives")
    func stoppedRedisIsNoticedAndLosesNothing() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        // The default probe settings: they are what this test is about.
        let (sender, receiver, received) = try await Self.adapters(redis: redis)
        #expect(sender.configuration.probeInterval + sender.configuration.probeTimeout <= .seconds(2))

        var number = 0
        for _ in 1...500 {
            number += 1
            try await Self.publish(number, on: sender)
            if number % 5 == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        try await Self.waitForAll(received, total: number, within: .seconds(5))
        #expect(received.missing(of: number).isEmpty)

        redis.pause()
        let stopped = ContinuousClock.now
        var noticed: (sender: Duration?, receiver: Duration?) = (nil, nil)
        // Publish on through the stop, noting when each adapter leaves "connected".
        while ContinuousClock.now - stopped < .seconds(3) {
            for _ in 1...5 {
                number += 1
                try await Self.publish(number, on: sender)
            }
            if noticed.sender == nil, sender.status.state != "connected" { noticed.sender = ContinuousClock.now - stopped }
            if noticed.receiver == nil, receiver.status.state != "connected" { noticed.receiver = ContinuousClock.now - stopped }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(noticed.sender != nil && noticed.sender! <= .seconds(2), "the sender noticed the stopped Redis after \(String(describing: noticed.sender))")
        #expect(noticed.receiver != nil && noticed.receiver! <= .seconds(2), "the receiver noticed the stopped Redis after \(String(describing: noticed.receiver))")
        #expect(sender.statistics.probeFailures >= 1)

        redis.resume()
        let resumed = ContinuousClock.now
        while ContinuousClock.now - resumed < .seconds(1) {
            number += 1
            try await Self.publish(number, on: sender)
            try await Task.sleep(for: .milliseconds(5))
        }
        let total = number
        try await Self.waitForAll(received, total: total, within: .seconds(20))
        let missing = received.missing(of: total)
        #expect(missing.isEmpty, "\(missing.count) of \(total) messages never arrived: \(missing.prefix(20))")
        try await eventually(within: .seconds(10)) {
            sender.status.state == "connected" && receiver.status.state == "connected"
        }
        // Delivery is live again, not only replayed.
        let live = received.all.count
        try await Self.publish(total + 1, on: sender)
        try await eventually(within: .seconds(3)) { received.all.count > live }
        #expect(sender.statistics.dropped == 0)
        print("stopped Redis noticed after \(noticed.sender.map { "\($0)" } ?? "-") (sender), \(noticed.receiver.map { "\($0)" } ?? "-") (receiver); \(received.all.count - Set(received.all).count) duplicates")
        await sender.shutdown()
        await receiver.shutdown()
    }
}
