import Testing
import Switchboard
import SwitchboardClient
import SwitchboardTesting

/// The README's example channel: a shared counter per topic.
actor CounterChannel: Channel {
    private var count = 0

    func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
        guard context.assigns["user_id"] != nil else {
            return .error(["reason": "unauthorized"])
        }
        return .ok(["count": .int(count)])
    }

    func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
        switch event {
        case "inc":
            count += 1
            try await context.broadcast("count", ["value": .int(count)])
            return .ok(["value": .int(count)])
        default:
            return .error(["reason": "unknown event"])
        }
    }
}

@Suite struct ChannelTestTests {
    static var router: ChannelRouter {
        var router = ChannelRouter()
        router.channel("counter:*") { CounterChannel() }
        return router
    }

    /// The README's worked example, as written there.
    @Test func aCounterCountsAndTellsEveryone() async throws {
        try await ChannelTest.run(router: Self.router, assigns: ["user_id": "1"]) { test in
            let counter = try await test.join("counter:1")
            #expect(counter.joinResponse == ["count": 0])
            #expect(try await counter.push("inc") == .ok(["value": 1]))
            #expect(try await counter.nextPush("count") == ["value": 1])
            #expect(try await counter.push("dec") == .error(["reason": "unknown event"]))
        }
    }

    @Test func broadcastsReachOtherClientsAndTheRecorder() async throws {
        try await ChannelTest.run(router: Self.router, assigns: ["user_id": "1"]) { test in
            let broadcasts = await test.watchBroadcasts(on: "counter:2")
            let alice = try await test.join("counter:2")
            let bob = try await test.join("counter:2")
            #expect(try await alice.push("inc") == .ok(["value": 1]))
            #expect(try await alice.nextPush("count") == ["value": 1])
            #expect(try await bob.nextPush("count") == ["value": 1])
            #expect(try await broadcasts.next("count") == .json(["value": 1]))
            // One instance per (socket, topic), as in Phoenix: bob's counter is his own.
            #expect(try await bob.push("inc") == .ok(["value": 1]))
            #expect(try await bob.push("inc") == .ok(["value": 2]))
            #expect(try await alice.nextPush("count") == ["value": 1])
            #expect(try await alice.nextPush("count") == ["value": 2])
            #expect(try await broadcasts.next("count") == .json(["value": 1]))
            #expect(try await broadcasts.next("count") == .json(["value": 2]))
            // Another topic's broadcasts reach neither alice nor the recorder.
            let other = try await test.join("counter:3")
            #expect(try await other.push("inc") == .ok(["value": 1]))
            #expect(try await other.nextPush("count") == ["value": 1])
            #expect(try await !alice.receives("count", within: .milliseconds(100)))
            #expect(broadcasts.pending.isEmpty)
        }
    }

    @Test func aRefusedJoinThrowsWithTheServersReason() async throws {
        try await ChannelTest.run(router: Self.router) { test in
            let error = await #expect(throws: ChannelTestError.self) { try await test.join("counter:1") }
            #expect(error?.description.contains("unauthorized") == true)
            let unmatched = await #expect(throws: ChannelTestError.self) { try await test.join("nowhere:1") }
            #expect(unmatched?.description.contains("unmatched topic") == true)
        }
    }

    @Test func aPushThatNeverComesFailsInsteadOfHanging() async throws {
        try await ChannelTest.run(router: Self.router, assigns: ["user_id": "1"]) { test in
            let counter = try await test.join("counter:4")
            await #expect(throws: ChannelTestError.self) { try await counter.nextPush("count", timeout: .milliseconds(100)) }
            #expect(try await !counter.receives("count"))
            let broadcasts = await test.watchBroadcasts(on: "counter:4")
            await #expect(throws: ChannelTestError.self) { try await broadcasts.next("count", timeout: .milliseconds(100)) }
        }
    }

    @Test func theNodeIsStoppedAfterTheBody() async throws {
        let port = try await ChannelTest.run(router: Self.router, assigns: ["user_id": "1"]) { test in
            _ = try await test.join("counter:5")
            #expect(test.server.connectionCount == 1)
            return try #require(test.server.localPort)
        }
        let client = PhoenixClient(host: "127.0.0.1", port: port)
        await #expect(throws: (any Error).self) { try await client.connect() }
    }
}
