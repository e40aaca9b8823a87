import Logging
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardClient
import Testing

/// The server runs on the event loop group it is given, the singleton by
/// default, and shuts down only a group it made itself.
@Suite("Server event loop group", .timeLimit(.minutes(1)))
struct EventLoopGroupTests {
    static func configuration(threads: Int? = nil) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoopThreads = threads
        configuration.shutdownGracePeriod = .seconds(2)
        return configuration
    }

    static func serveOneClient(_ server: SwitchboardServer) async throws {
        try await server.start()
        let client = try await TestServer.client(server) { $0.reconnect = false }
        let room = client.channel("room:group")
        _ = try await room.join()
        await client.disconnect()
        await server.shutdown()
    }

    @Test func aGivenGroupServesAndOutlivesTheServer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = SwitchboardServer(configuration: Self.configuration(threads: 3), endpoints: TestServer.endpoints(),
                                       eventLoopGroup: group, logger: Logger(label: "test-group"))
        try await Self.serveOneClient(server)
        // Not shut down by the server: its loop still runs tasks.
        #expect(try await group.next().submit { 42 }.get() == 42)
        try await group.shutdownGracefully()
    }

    @Test func withoutAGroupOrThreadsItRunsOnTheSingleton() async throws {
        let server = SwitchboardServer(configuration: Self.configuration(), endpoints: TestServer.endpoints(),
                                       logger: Logger(label: "test-group"))
        try await Self.serveOneClient(server)
        #expect(try await MultiThreadedEventLoopGroup.singleton.next().submit { 42 }.get() == 42)
    }
}
