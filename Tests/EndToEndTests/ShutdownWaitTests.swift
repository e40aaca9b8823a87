@testable import Switchboard
import SwitchboardClient
import Synchronization
import Testing

/// Shutdown waits for the last connection to close, not for its grace period.
@Suite("Shutdown waits for connections", .timeLimit(.minutes(1)))
struct ShutdownWaitTests {
    /// A room with presence whose `terminate` takes 300 ms, then says it ran.
    struct SlowToEnd: Channel {
        static var tracksPresence: Bool { true }
        let terminations: Terminations

        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
            try context.track(key: "user", meta: [:])
            return .ok([:])
        }

        func terminate(reason: TerminationReason, context: ChannelContext) async {
            try? await Task.sleep(for: .milliseconds(300))
            terminations.count.add(1, ordering: .relaxed)
        }
    }

    /// How many `terminate` calls have returned.
    final class Terminations: Sendable {
        let count = Atomic<Int>(0)
    }

    @Test func shutdownWaitsForEveryChannelsTerminateBeforeStoppingTheLoops() async throws {
        let terminations = Terminations()
        var router = ChannelRouter()
        router.channel("room:*") { SlowToEnd(terminations: terminations) }
        let endpoints = [SocketEndpoint(path: "/socket", socket: DemoSocket(), router: router)]
        let server = try await TestServer.start(endpoints: endpoints)
        var clients: [PhoenixClient] = []
        for index in 0..<3 {
            let client = try await TestServer.client(server, params: ["user_id": "\(index)"]) { $0.reconnect = false }
            _ = try await client.channel("room:\(index)").join()
            clients.append(client)
        }
        await server.shutdown()
        // Each channel left its presence and ran `terminate` with the loops
        // still up: nothing was scheduled on a loop already shut down.
        #expect(terminations.count.load(ordering: .relaxed) == 3)
        for client in clients { await client.disconnect() }
    }

    @Test func shutdownEndsWhenTheLastConnectionClosesNotAtTheGracePeriod() async throws {
        let server = try await TestServer.start { $0.shutdownGracePeriod = .seconds(30) }
        let clients = [try await TestServer.client(server) { $0.reconnect = false }, try await TestServer.client(server) { $0.reconnect = false }]
        // The server counts a connection once its handlers are in, just after the 101.
        #expect(await AdminTestSupport.eventually { server.connectionCount == 2 })
        let started = ContinuousClock.now
        await server.shutdown()
        let took = ContinuousClock.now - started
        #expect(server.connectionCount == 0)
        #expect(took < .seconds(10), "shutdown took \(took)")
        for client in clients { await client.disconnect() }
    }

    @Test func aGracefulDrainEndsWhenTheLastConnectionCloses() async throws {
        let server = try await TestServer.start { configuration in
            configuration.drainOnShutdown = .seconds(1)
            configuration.shutdownGracePeriod = .seconds(30)
        }
        let client = try await TestServer.client(server) { $0.reconnect = false }
        #expect(await AdminTestSupport.eventually { server.connectionCount == 1 })
        let started = ContinuousClock.now
        await server.drainForShutdown()
        let took = ContinuousClock.now - started
        #expect(server.connectionCount == 0)
        #expect(took < .seconds(2), "the drain took \(took)")
        await server.shutdown()
        await client.disconnect()
    }
}
