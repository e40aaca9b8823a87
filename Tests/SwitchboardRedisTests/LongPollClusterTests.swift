import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// Long-poll sessions across nodes: a node that gets a request for another
/// node's session has the owner answer it, through the adapter.
@Suite("Long-poll across nodes", .serialized)
struct LongPollClusterTests {
    private static let join = #"["1","1","room:lobby","phx_join",{}]"#

    @Test("polls and posts for a session answered by whichever node gets them")
    func requestsReachTheOwner() async throws {
        try await TestCluster.with(nodes: 3) { cluster in
            let ports = cluster.servers.map { $0.localPort! }
            let opened = try await RawLongPoll.open(port: ports[0])
            func at(_ index: Int) -> RawLongPoll {
                RawLongPoll(port: ports[index], path: opened.path, query: opened.query, token: opened.token)
            }
            #expect(try await at(1).post([Self.join]).status == 200)
            let replies = try await at(2).messages(count: 1)
            #expect(replies == [#"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#])
            #expect(cluster.servers.map(\.connectionCount) == [1, 0, 0], "the session lives on its owner only")

            // A poll held by the owner for another node is answered by a broadcast from a third.
            async let held = at(1).poll()
            try await Task.sleep(for: .milliseconds(300))
            try await cluster.servers[2].pubsub.broadcast(topic: "room:lobby", event: "news", payload: .json(["n": 1]))
            let answer = try await held
            #expect(answer.status == 200 && answer.messages == [#"[null,null,"room:lobby","news",{"n":1}]"#])

            // A token of a node that does not answer: gone, after the forwarding timeout at the latest.
            let parts = opened.token.split(separator: ".")
            #expect(parts.count == 2)
            let stranger = RawLongPoll(port: ports[1], path: opened.path, query: opened.query, token: "bm9ib2R5.AAAA")
            #expect(try await stranger.poll().status == 410)
        }
    }

    /// A session of node 0 joined to `room:lobby`, and the same session spoken to through node 1.
    private static func joinedOnFirstNode(_ cluster: TestCluster) async throws -> (owned: RawLongPoll, throughOther: RawLongPoll) {
        let owned = try await RawLongPoll.open(port: cluster.servers[0].localPort!)
        #expect(try await owned.post([Self.join]).status == 200)
        #expect(try await owned.messages(count: 1).count == 1)
        return (owned, RawLongPoll(port: cluster.servers[1].localPort!, path: owned.path, query: owned.query, token: owned.token))
    }

    @Test("a node that stops answers the polls it forwarded at once, and the client keeps its session on the owner")
    func aStoppingNodeAnswersWhatItForwarded() async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            let (owned, throughOther) = try await Self.joinedOnFirstNode(cluster)

            // Held by the owner for node 1, which stops meanwhile.
            let started = ContinuousClock.now
            async let held = throughOther.poll()
            try await Task.sleep(for: .milliseconds(300))
            await cluster.servers[1].shutdown()
            let answer = try await held
            #expect(answer.status == 204 && answer.token == owned.token, "no content yet: poll again, elsewhere")
            #expect(ContinuousClock.now - started < .seconds(5), "answered as the node stopped, not at the forwarding timeout")

            // The session lives on: a broadcast reaches its next poll on the owner.
            async let next = owned.poll()
            try await Task.sleep(for: .milliseconds(300))
            try await cluster.servers[0].pubsub.broadcast(topic: "room:lobby", event: "news", payload: .json(["n": 1]))
            #expect(try await next.messages == [#"[null,null,"room:lobby","news",{"n":1}]"#])
        }
    }

    @Test("a stopping owner hands a closed session's last messages to its next poll through another node, then 410 soon")
    func aStoppingOwnerHandsOverItsLastMessages() async throws {
        try await TestCluster.with(nodes: 2) { cluster in
            let (_, throughOther) = try await Self.joinedOnFirstNode(cluster)
            // Queued for the session: nobody polls.
            try await cluster.servers[1].pubsub.broadcast(topic: "room:lobby", event: "news", payload: .json(["n": 1]))
            try await Task.sleep(for: .milliseconds(300))

            let stopping = Task { await cluster.servers[0].shutdown() }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            let last = try await throughOther.poll()
            #expect(last.status == 200 && last.messages == [#"[null,null,"room:lobby","news",{"n":1}]"#])
            // Then gone (the client reconnects), or first no content when the
            // poll was on its way as the owner left (the client polls again).
            var next = try await throughOther.poll()
            if next.status == 204 { next = try await throughOther.poll() }
            #expect(next.status == 410, "then gone: the client reconnects")
            #expect(ContinuousClock.now - started < .seconds(5), "answered by the stopping owner, not at the forwarding timeout")
            await stopping.value
            // The owner's `longpoll_owner_left` may reach node 1 after the
            // owner stopped, and answer a poll sent meanwhile with no content.
            var afterStop = try await throughOther.poll()
            if afterStop.status == 204 { afterStop = try await throughOther.poll() }
            #expect(afterStop.status == 410, "got \(afterStop.status)")
            #expect(ContinuousClock.now - started < .seconds(5), "the stopped owner counts no receiver: 410 at once")
        }
    }

    @Test("10,000 pushes of one client through round-robin haproxy arrive in order, each reply matching its push")
    func pushesThroughRoundRobinArriveInOrder() async throws {
        // Faster than a person types: no inbound rate limit.
        try await TestCluster.with(nodes: 3, configureServer: { $0.limits.inboundMessageRate = nil }) { cluster in
            let haproxy = try await HAProxyTestServer.start(
                servers: cluster.servers.enumerated().map { ("node\($0.offset)", $0.element.localPort!) }, balance: "roundrobin"
            )
            defer { haproxy.stop() }
            let session = try await RawLongPoll.open(port: haproxy.port)
            #expect(try await session.post([Self.join]).status == 200)
            #expect(try await session.messages(count: 1).count == 1)

            let total = 10_000
            var received: [Int] = []
            var next = 1
            while next <= total {
                let batch = (next..<min(next + 100, total + 1)).map { #"["1","\#($0 + 1)","room:lobby","ping",{"n":\#($0)}]"# }
                #expect(try await session.post(batch).status == 200)
                next += batch.count
                // Read the replies as they come, as a client does.
                let answer = try await session.poll()
                #expect(answer.status == 200 || answer.status == 204)
                received += try Self.replies(answer.messages)
            }
            while received.count < total {
                let answer = try await session.poll()
                guard answer.status == 200 else { break }
                received += try Self.replies(answer.messages)
            }
            #expect(received.count == total)
            #expect(received == Array(1...total), "every reply, in push order, carrying its push's n")
            #expect(cluster.servers.map(\.connectionCount).reduce(0, +) == 1)
            // Round robin sent most requests to the two other nodes, which had the owner answer them.
            let owner = try #require(cluster.servers.firstIndex { $0.connectionCount == 1 })
            #expect(cluster.adapters[owner].statistics.received >= 100, "forwarded requests reached the owner")
        }
    }

    @Test("behind the repository's haproxy.cfg, long-poll requests go to their session's node, forwarded only when it is in maintenance")
    func theRepositoryHAProxyRoutesToTheOwner() async throws {
        let names = ["blue1", "blue2", "blue3"]
        try await TestCluster.with(nodes: 3, names: names, configureServer: { $0.limits.inboundMessageRate = nil }) { cluster in
            let ports = cluster.servers.map { $0.localPort! }
            let haproxy = try await HAProxyTestServer.startRepositoryConfiguration(slots: Array(zip(names, ports)))
            defer { haproxy.stop() }
            func forwarded() async throws -> Double {
                var total = 0.0
                for port in ports { total += try await PrometheusText.scrape("switchboard_longpoll_forwarded_total", port: port) ?? 0 }
                return total
            }
            // A socket param named `token` too, as apps pass theirs: the session's comes last, and counts.
            let session = try await RawLongPoll.open(port: haproxy.port, params: "token=app.secret&user_id=1")
            let byHeader = RawLongPoll(port: haproxy.port, path: session.path, query: "vsn=2.0.0", token: "")
            #expect(try await session.post([Self.join]).status == 200)
            #expect(try await session.messages(count: 1).count == 1)
            for n in 1...30 {
                #expect(try await session.post([#"["1","\#(n + 1)","room:lobby","ping",{"n":\#(n)}]"#]).status == 200)
                let polled = try await RawLongPoll.request(
                    port: haproxy.port, method: "GET", target: byHeader.target.replacingOccurrences(of: "&token=", with: ""),
                    headers: ["X-Phoenix-Longpoll-Token: \(session.token)"]
                )
                #expect(polled.status == 200 && polled.messages.count == 1)
            }
            #expect(try await forwarded() == 0, "every request went to the session's node")

            // The owner in maintenance: the others take its requests and forward them.
            let owner = try #require(cluster.servers.firstIndex { $0.connectionCount == 1 })
            _ = try haproxy.runtime("set server blue/\(names[owner]) state maint")
            #expect(try await session.post([#"["1","100","room:lobby","ping",{"n":99}]"#]).status == 200)
            #expect(try await session.messages(count: 1) == [#"["1","100","room:lobby","phx_reply",{"status":"ok","response":{"n":99}}]"#])
            #expect(try await forwarded() >= 2)
        }
    }

    /// The `n` of each ping reply, checked against its ref (`n + 1`).
    private static func replies(_ messages: [String]) throws -> [Int] {
        try messages.map { text in
            let array = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any])
            let ref = try #require(array[1] as? String)
            let payload = try #require(array[4] as? [String: Any])
            let response = try #require(payload["response"] as? [String: Any])
            let n = try #require(response["n"] as? Int)
            #expect(ref == String(n + 1), "the reply answers its own push")
            return n
        }
    }
}
