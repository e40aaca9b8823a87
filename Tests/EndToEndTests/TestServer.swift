import Logging
import Switchboard
import SwitchboardClient
import SwitchboardTesting

/// Starts in-process servers on free loopback ports and clients for them.
enum TestServer {
    /// The built-in channels plus ``TestChannels``, at `/socket`, and a guarded socket at `/guarded`.
    static func endpoints(longPoll: LongPollOptions = LongPollOptions()) -> [SocketEndpoint] {
        var router = BuiltIn.router()
        router.channel("crash:*") { TestChannels.Crashing() }
        router.channel("slow:*") { TestChannels.Slow() }
        router.channel("intercept:*") { TestChannels.Intercepting() }
        router.channel("deferred:*") { TestChannels.Deferred() }
        // Matches an adapter's reserved topic too, which must stay unjoinable.
        router.channel("switchboard:*") { TestChannels.Slow() }
        var endpoints = [
            SocketEndpoint(path: "/socket", socket: DemoSocket(), router: router),
            SocketEndpoint(path: "/guarded", socket: TestChannels.GuardedSocket(), router: router),
        ]
        for index in endpoints.indices { endpoints[index].longPoll = longPoll }
        return endpoints
    }

    static let apiKey = "test-api-key"

    static func start(
        port: Int = 0, adapter: (any PubSubAdapter)? = nil, endpoints: [SocketEndpoint] = endpoints(),
        _ configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> SwitchboardServer {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.eventLoopThreads = 2
        configuration.apiKey = apiKey
        configuration.shutdownGracePeriod = .seconds(2)
        configuration.metrics = .privatePrometheus()
        configure(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let server = SwitchboardServer(configuration: configuration, endpoints: endpoints, adapter: adapter, logger: logger)
        try await server.start()
        return server
    }

    /// A connected client with heartbeats off unless asked for.
    static func client(
        _ server: SwitchboardServer,
        params: [String: String] = ["user_id": "1"],
        _ configure: (inout PhoenixClient.Configuration) -> Void = { _ in }
    ) async throws -> PhoenixClient {
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: server.localPort!, params: params, heartbeatInterval: nil)
        configure(&configuration)
        let client = PhoenixClient(configuration: configuration)
        try await client.connect()
        return client
    }
}

/// Runs `body` with a started server and shuts it down afterwards, even on failure.
func withServer<T>(
    adapter: (any PubSubAdapter)? = nil,
    endpoints: [SocketEndpoint] = TestServer.endpoints(),
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (SwitchboardServer) async throws -> T
) async throws -> T {
    let server = try await TestServer.start(adapter: adapter, endpoints: endpoints, configure)
    do {
        let result = try await body(server)
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}
