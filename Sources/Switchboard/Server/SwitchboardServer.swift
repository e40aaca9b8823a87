#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ServiceLifecycle

/// A Switchboard node: the public HTTP/WebSocket listener, its sockets and
/// channels, and PubSub. Run it in a `ServiceGroup` (it stops gracefully on
/// SIGTERM), or drive it with ``start()`` and ``shutdown()``.
public final class SwitchboardServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let endpoints: [SocketEndpoint]
    private let group: any EventLoopGroup
    /// The group the server made itself (``ServerConfiguration/eventLoopThreads``),
    /// shut down when it stops; `nil` when it runs on a group it was given.
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let runtime: ServerRuntime
    private let listener = NIOLockedValueBox<(any NIOCore.Channel)?>(nil)
    private let adminListener = NIOLockedValueBox<(any NIOCore.Channel)?>(nil)
    private let longPoll = NIOLockedValueBox<LongPollResponder?>(nil)
    /// The shutdown under way or done: a second ``shutdown()`` waits for it.
    private let shutdownTask = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let logger: Logger

    /// - Parameters:
    ///   - adapter: carries broadcasts to other nodes; a ``LocalAdapter`` when `nil`.
    ///   - eventLoopGroup: the event loops the listeners and connections run
    ///     on; pass the same group to the PubSub adapter so the process has one.
    ///     When `nil`: a group of ``ServerConfiguration/eventLoopThreads``
    ///     threads if that is set, which the server shuts down when it stops;
    ///     otherwise `MultiThreadedEventLoopGroup.singleton` (one loop per
    ///     core). A group that was given is never shut down by the server.
    public init(
        configuration: ServerConfiguration,
        endpoints: [SocketEndpoint],
        adapter: (any PubSubAdapter)? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "switchboard")
    ) {
        let nodeName = adapter?.nodeName ?? configuration.nodeName ?? NodeName.generate()
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeName)"
        self.configuration = configuration
        self.endpoints = endpoints
        self.logger = logger
        if let eventLoopGroup {
            self.group = eventLoopGroup
            self.ownedGroup = nil
        } else if let threads = configuration.eventLoopThreads {
            let owned = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
            self.group = owned
            self.ownedGroup = owned
        } else {
            self.group = MultiThreadedEventLoopGroup.singleton
            self.ownedGroup = nil
        }
        self.runtime = ServerRuntime(
            configuration: configuration,
            logger: logger,
            adapter: adapter ?? LocalAdapter(nodeName: nodeName),
            eventLoops: Array(group.makeIterator())
        )
    }

    /// This node's PubSub, to broadcast from application code.
    public var pubsub: PubSub { runtime.pubsub }

    /// This node's name.
    public var nodeName: String { runtime.pubsub.nodeName }

    /// Who is present on which topic, on every node.
    public var presence: Presences { Presences(tracker: runtime.presence) }

    /// Open WebSocket connections.
    public var connectionCount: Int { runtime.connectionCount }

    /// The port the listener is bound to, once started.
    public var localPort: Int? { listener.withLockedValue { $0?.localAddress?.port } }

    /// The port the admin listener is bound to, once started; `nil` when it
    /// is disabled (no admin token).
    public var adminPort: Int? { adminListener.withLockedValue { $0?.localAddress?.port } }

    /// Starts PubSub and binds the listener.
    public func start() async throws {
        try await runtime.pubsub.start()
        let admission = SocketAdmission(runtime: runtime)
        let upgrader = SocketUpgrader(endpoints: endpoints, runtime: runtime, admission: admission)
        let longPoll = LongPollResponder(endpoints: endpoints, admission: admission, runtime: runtime)
        // Every part that hears from the other nodes listens before the node
        // joins the cluster: a message that came first would be taken for an
        // unknown event. Presence says hello once the node hears the answers.
        runtime.presence.listen(handleControl: runtime.handleControl)
        longPoll.joinCluster()
        await runtime.startCluster()
        runtime.presence.start()
        runtime.startPolicies()
        self.longPoll.withLockedValue { $0 = longPoll }
        let runtime = self.runtime
        let decoderLimits = configuration.limits.httpDecoderLimits
        let nioQueueLimit = WebSocketTransport.nioQueueLimit(maxOutboundBytes: configuration.limits.maxOutboundBytes)
        let channel = try await ListenerError.naming("the public listener", host: configuration.host, port: configuration.port) {
            try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                // Each connection keeps its receive buffer between reads; start it at
                // 512 bytes (NIO's default is 2 KiB): an idle socket costs less, and
                // the buffer still grows when reads fill it.
                .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
                // NIO's share of the outbound limit; the WebSocket transport keeps the rest.
                .childChannelOption(.writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(
                    low: nioQueueLimit / 2, high: nioQueueLimit))
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // An upgrade configuration without upgraders: it makes the
                        // request decoder hand on the bytes that follow an upgrade
                        // request instead of dropping them, and its handler leaves
                        // after the first request. Upgrades, on any request of the
                        // connection, are HTTPRequestHandler's.
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withServerUpgrade: (upgraders: [], completionHandler: { _ in }),
                            withEncoderConfiguration: .init(),
                            withDecoderLimitConfiguration: decoderLimits
                        )
                        try channel.pipeline.syncOperations.addHandler(HTTPRequestHandler(runtime: runtime, upgrader: upgrader, longPoll: longPoll))
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
        }
        listener.withLockedValue { $0 = channel }
        let paths = endpoints.map(\.websocketPath).joined(separator: ", ")
        logger.notice(
            "switchboard \(configuration.version) node \(nodeName) listening on http://\(configuration.host):\(localPort ?? configuration.port) (sockets: \(paths)), pubsub \(runtime.pubsub.adapterStatus.name)"
        )
        try await startAdminListener()
    }

    /// Binds the admin listener when it is enabled and an admin token is known.
    private func startAdminListener() async throws {
        let admin = configuration.admin
        guard admin.enabled else { return }
        guard let token = admin.resolvedToken else {
            logger.info("admin API off: no admin token (admin.token or \(AdminConfiguration.tokenEnvironmentVariable))")
            return
        }
        let api = AdminAPI(runtime: runtime)
        let limits = configuration.limits
        let channel: any NIOCore.Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // The public listener's request rules: header bounds and the request timeout.
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withErrorHandling: true, withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits.httpDecoderLimits
                        )
                        try channel.pipeline.syncOperations.addHandler(HTTPRequestTimeoutHandler(timeout: limits.requestTimeout))
                        try channel.pipeline.syncOperations.addHandler(AdminRequestHandler(api: api, token: token))
                    }
                }
                .bind(host: admin.host, port: admin.port)
                .get()
        } catch {
            // The public listener is already up: take it down before failing.
            if let listener = listener.withLockedValue({ $0 }) { try? await listener.close() }
            throw ListenerError(listener: "the admin API", host: admin.host, port: admin.port, underlying: error)
        }
        adminListener.withLockedValue { $0 = channel }
        logger.notice("admin API listening on http://\(admin.host):\(adminPort ?? admin.port)")
    }

    // MARK: - Operations

    /// Closes connections chosen at random with code 1012, spread evenly over
    /// `window`. Returns how many will be closed.
    @discardableResult
    public func shed(_ amount: ShedAmount, over window: Duration) async -> Int {
        await runtime.shed(amount, over: window, reason: "shed by operator")
    }

    /// Refuses new sockets (`/readyz` answers 503) and sheds every connection
    /// evenly over `window`. Returns how many will be closed.
    @discardableResult
    public func drain(over window: Duration) async -> Int {
        await runtime.drain(over: window)
    }

    /// Ends a drain: sockets are accepted again and pending drain closes are
    /// cancelled. False once shutdown has begun.
    @discardableResult
    public func undrain() -> Bool {
        runtime.undrain()
    }

    /// Closes every socket whose id is `socketID` with code 1001, on this
    /// node and, through PubSub, on every other node (Phoenix's `disconnect`
    /// broadcast). Returns how many were closed on this node.
    @discardableResult
    public func disconnect(socketID: String) async -> Int {
        await runtime.disconnectEverywhere(socketID: socketID)
    }

    /// Every node of the cluster as this node last heard from it (reports
    /// come every ``ServerConfiguration/clusterReportInterval``), this one included.
    public func clusterNodes() async -> [NodeReport] {
        await runtime.clusterNodes()
    }

    /// Asks every serving node above the cluster's mean by more than
    /// `tolerance` (0.1 for 10 %) to shed its excess over `window`; returns the plan.
    @discardableResult
    public func rebalance(tolerance: Double = 0.1, over window: Duration) async -> RebalancePlan {
        await runtime.rebalance(tolerance: tolerance, over: window)
    }

    /// Starts, serves until a graceful shutdown is requested (SIGTERM in a
    /// `ServiceGroup`), then shuts down.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await drainForShutdown()
        await shutdown()
    }

    /// Sheds every connection over ``ServerConfiguration/drainOnShutdown``
    /// and waits (a little past the window at most) for them to go.
    func drainForShutdown() async {
        let window = configuration.drainOnShutdown
        guard window > .zero, runtime.connectionCount > 0 else { return }
        runtime.beginShutdown()
        await runtime.drain(over: window)
        await runtime.waitForNoConnections(timeout: window + .seconds(1))
    }

    /// Stops accepting, closes every socket with code 1012 so clients
    /// reconnect elsewhere, waits for them to go and for their channels'
    /// `terminate` to return (at most the grace period), and releases the
    /// event loops if it made them. Calling it again waits
    /// for the first call.
    public func shutdown() async {
        let task = shutdownTask.withLockedValue { task in
            if let task { return task }
            let started = Task { await self.stopEverything() }
            task = started
            return started
        }
        await task.value
    }

    private func stopEverything() async {
        runtime.beginShutdown()
        if let channel = adminListener.withLockedValue({ $0 }) {
            try? await channel.close()
        }
        if let channel = listener.withLockedValue({ $0 }) {
            try? await channel.close()
        }
        for dispatcher in runtime.dispatchers {
            dispatcher.eventLoop.execute {
                for connection in dispatcher.connections.all.values {
                    connection.close(.serviceRestart(detail: "server shutting down"))
                }
            }
        }
        let graceEnds = ContinuousClock.now + configuration.shutdownGracePeriod
        await runtime.waitForNoConnections(timeout: configuration.shutdownGracePeriod)
        let longPoll = longPoll.withLockedValue { $0 }
        await longPoll?.waitForSessionsToEnd(timeout: .seconds(2))
        // Each closed socket's channels end on their own tasks (presence
        // leaves, `terminate`), which need the tracker, the PubSub and the
        // loops stopped below: what is left of the grace period, at least 1 s.
        await runtime.channelInstances.waitForZero(timeout: max(graceEnds - .now, .seconds(1)))
        await runtime.stopPolicies()
        runtime.stopCountPublishers()
        // Other nodes' requests (long-poll forwarding) are answered until the
        // adapter stops taking them, and those it took before it stops
        // sending; from then on their requests reach no one and fail at once
        // instead of waiting for an answer that never comes.
        await runtime.presence.stop()
        await runtime.pubsub.stopReceiving()
        await longPoll?.finishAnswering()
        await runtime.pubsub.shutdown()
        await runtime.stopCluster()
        longPoll?.leaveCluster()
        try? await ownedGroup?.shutdownGracefully()
        logger.notice("switchboard stopped")
    }
}

/// Generated node names: `switchboard-<host>-<4 hex digits>`.
enum NodeName {
    static func generate() -> String {
        let host = ProcessInfoHost.name
        return "switchboard-\(host)-\(String(UInt16.random(in: .min ... .max), radix: 16))"
    }
}

/// The machine's host name, read once.
enum ProcessInfoHost {
    static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
