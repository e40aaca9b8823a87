import Logging
import NIOCore
import Switchboard
import SwitchboardClient

/// Tests a channel the way Phoenix's `ChannelTest` does: a real node on a
/// loopback port of this process, with your router, and clients that connect,
/// join, push and wait for replies, pushes and broadcasts.
///
/// ```swift
/// try await ChannelTest.run(router: router, assigns: ["user_id": "1"]) { test in
///     let counter = try await test.join("counter:1")
///     #expect(counter.joinResponse == ["count": 0])
///     #expect(try await counter.push("inc") == .ok(["value": 1]))
///     #expect(try await counter.nextPush("count") == ["value": 1])
/// }
/// ```
///
/// Everything runs through the same socket, channel and PubSub code as in
/// production, over the V2 protocol; nothing is mocked. The node stops when
/// `body` returns or throws.
public struct ChannelTest: Sendable {
    /// The node under test: broadcast from application code with
    /// `test.server.pubsub`, or read its counts.
    public let server: SwitchboardServer
    private let port: Int

    /// Starts a node with `router`, whose sockets connect through `socket`,
    /// runs `body`, then shuts the node down.
    public static func run<Result: Sendable>(
        router: ChannelRouter,
        socket: any Socket,
        configuration: ServerConfiguration = ServerConfiguration(),
        _ body: (ChannelTest) async throws -> Result
    ) async throws -> Result {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoopThreads = 1
        configuration.drainOnShutdown = .zero
        configuration.shutdownGracePeriod = .seconds(2)
        let server = SwitchboardServer(
            configuration: configuration,
            endpoints: [SocketEndpoint(path: "/socket", socket: socket, router: router)],
            logger: Logger(label: "switchboard.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await server.start()
        guard let port = server.localPort else {
            await server.shutdown()
            throw ChannelTestError("the test node has no listening port")
        }
        do {
            let result = try await body(ChannelTest(server: server, port: port))
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Like ``run(router:socket:configuration:_:)``, with sockets that skip
    /// authentication and carry `assigns` (Phoenix's `socket(UserSocket, id, assigns)`).
    public static func run<Result: Sendable>(
        router: ChannelRouter,
        assigns: Assigns = [:],
        configuration: ServerConfiguration = ServerConfiguration(),
        _ body: (ChannelTest) async throws -> Result
    ) async throws -> Result {
        try await run(router: router, socket: AssignsSocket(assigns: assigns), configuration: configuration, body)
    }

    /// A new client connection with connect `params`. Its channels are
    /// independent of other connections' (two users in one room).
    public func connect(params: [String: String] = [:]) async throws -> ChannelTestClient {
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: port)
        configuration.params = params
        configuration.timeout = .seconds(5)
        configuration.reconnect = false
        let client = PhoenixClient(configuration: configuration)
        try await client.connect()
        return ChannelTestClient(client: client)
    }

    /// Connects a new client and joins `topic` on it: the usual first step
    /// (Phoenix's `subscribe_and_join`). Throws ``ChannelTestError`` with the
    /// server's response when the join is refused.
    public func join(_ topic: String, _ payload: JSONValue = [:]) async throws -> JoinedChannel {
        try await connect().join(topic, payload)
    }

    /// Records every broadcast on `topic` from now on, made by any channel or
    /// by application code (Phoenix's `assert_broadcast`).
    public func watchBroadcasts(on topic: String) async -> BroadcastRecorder {
        await BroadcastRecorder.start(topic: topic, pubsub: server.pubsub)
    }
}

/// An error of the test kit itself: a refused join, a reply that never came,
/// an event that was not pushed in time.
public struct ChannelTestError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Accepts every connection with fixed assigns: the kit's stand-in for an
/// application socket whose `connect` is tested elsewhere.
public struct AssignsSocket: Socket {
    public let assigns: Assigns

    public init(assigns: Assigns) {
        self.assigns = assigns
    }

    public func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult {
        .ok(assigns)
    }
}
