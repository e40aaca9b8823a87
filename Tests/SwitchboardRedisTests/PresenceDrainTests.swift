import Foundation
import Synchronization
import Switchboard
import SwitchboardClient
import SwitchboardTesting
import Testing

/// A node drained behind HAProxy while its clients keep presence lists, as
/// in one step of a rolling deploy.
@Suite("Presence through a drain", .serialized)
struct PresenceDrainTests {
    static let clients = 90
    static let topics = 3

    static func room(of index: Int) -> Int { index / Self.topics % Self.topics }

    /// By observer, then member: how many times the member vanished from the observer's list.
    final class VisibleLeaves: Sendable {
        let counts = Mutex<[Int: [String: Int]]>([:])

        func left(observer: Int, member: String) {
            counts.withLock { $0[observer, default: [:]][member, default: 0] += 1 }
        }
    }

    @Test("every list ends exact; a moved member vanishes from a list at most once per move, and from none of the clients that stayed", .timeLimit(.minutes(2)))
    func drainUnderPresence() async throws {
        try await TestCluster.with(nodes: 3, endpoints: [BuiltIn.endpoint(presence: true)]) { cluster in
            let names = ["a", "b", "c"]
            let haproxy = try await HAProxyTestServer.start(servers: zip(names, cluster.servers).map { ($0, $1.localPort!) })
            defer { haproxy.stop() }
            #expect(try await ClusterOperationsTests.eventually { try names.allSatisfy(haproxy.isUp) })

            let leaves = VisibleLeaves()
            var joined: [(client: PhoenixClient, presence: ClientPresence)] = []
            for index in 0..<Self.clients {
                var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: haproxy.port, params: ["user_id": "\(index)"], heartbeatInterval: nil)
                configuration.reconnect = true
                // Back after 300 ms, several batch windows later, as a client
                // through a busy load balancer is: its leave must wait for it.
                configuration.reconnectBackoff = .init(steps: [.milliseconds(300)], then: .milliseconds(300))
                let client = PhoenixClient(configuration: configuration)
                try await client.connect()
                // HAProxy (leastconn) hands the connections to the nodes in
                // turn: rooms by thirds, so that every room has members on
                // every node, some that move and some that stay.
                let channel = client.channel("room:drain\(Self.room(of: index))")
                let presence = ClientPresence(channel: channel)
                presence.onLeave { key, remaining, _ in
                    // Gone from the list: no meta remains.
                    if (remaining ?? []).isEmpty { leaves.left(observer: index, member: key) }
                }
                _ = try await channel.join()
                joined.append((client, presence))
            }
            let drained = cluster.servers[0].connectionCount
            #expect(drained > 0, "haproxy spread the clients (node a has none)")

            _ = await cluster.servers[0].drain(over: .milliseconds(500))
            func expected(_ index: Int) -> Set<String> {
                Set((0..<Self.clients).filter { Self.room(of: $0) == Self.room(of: index) }.map(String.init))
            }
            let exact = await ClusterOperationsTests.eventually(timeout: .seconds(20)) {
                guard cluster.servers[0].connectionCount == 0 else { return false }
                for (index, entry) in joined.enumerated() where Set(await entry.presence.state.keys) != expected(index) { return false }
                return true
            }
            var wrong: [String] = []
            for (index, entry) in joined.enumerated() {
                let listed = Set(await entry.presence.state.keys)
                if listed != expected(index) { wrong.append("client \(index): ghosts \(listed.subtracting(expected(index)).sorted()), missing \(expected(index).subtracting(listed).sorted())") }
            }
            #expect(exact, "lists not exact after the drain: \(wrong.prefix(5))")

            var moves: [String: Int] = [:]
            for (index, entry) in joined.enumerated() { moves["\(index)"] = await entry.client.statistics.reconnects }
            #expect(moves.values.reduce(0, +) >= drained, "node a's \(drained) clients moved")
            let beyond = leaves.counts.withLock { counts in
                counts.flatMap { observer, members in
                    members.filter { $0.value > moves[$0.key] ?? 0 }.map { "observer \(observer) saw \($0.key) leave \($0.value)× for \(moves[$0.key] ?? 0) moves" }
                }
            }
            #expect(beyond.isEmpty, "\(beyond.prefix(5))")
            // A client that stayed put saw nobody go: each moved member's
            // leave went out with its rejoin, in one diff.
            let seenByStayers = leaves.counts.withLock { counts in
                counts.filter { moves["\($0.key)"] == 0 }.values.flatMap(\.keys).sorted()
            }
            #expect(seenByStayers.isEmpty, "clients that did not move saw \(seenByStayers.prefix(10)) leave")
            for entry in joined { await entry.client.disconnect() }
        }
    }
}
