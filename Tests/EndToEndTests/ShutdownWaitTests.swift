@testable import Switchboard
import SwitchboardClient
import Testing

/// Shutdown waits for the last connection to close, not for its grace period.
@Suite("Shutdown waits for connections", .timeLimit(.minutes(1)))
struct ShutdownWaitTests {
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
