import NIOCore

/// Everything a ``SwitchboardServer`` needs to know that is not code.
public struct ServerConfiguration: Sendable {
    /// Address to listen on.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (see ``SwitchboardServer/localPort``).
    public var port: Int = 4000
    /// This node's name in the cluster; generated when `nil`.
    public var nodeName: String?
    /// The version reported by `/healthz` and the startup line.
    public var version: String = SwitchboardVersion.current
    /// Key that `POST /api/broadcast` requires (`Authorization: Bearer …` or
    /// `x-api-key`); `nil` disables the endpoint.
    public var apiKey: String?
    /// Limits that protect the node from one connection.
    public var limits: Limits = Limits()
    /// Event loop threads of a group the server makes for itself (and shuts
    /// down when it stops). `nil`, the default: the server runs on the group
    /// it is given, or on `MultiThreadedEventLoopGroup.singleton`, one loop
    /// per core, shared with the PubSub adapter and clients in the process.
    public var eventLoopThreads: Int?
    /// How long a graceful shutdown waits for connections to close.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// On a graceful shutdown (SIGTERM in a `ServiceGroup`), the window over
    /// which every connection is shed before the node stops; zero closes them
    /// all at once.
    public var drainOnShutdown: Duration = .seconds(5)
    /// The admin listener: stats, shedding, draining, disconnect by id.
    public var admin: AdminConfiguration = AdminConfiguration()
    /// How often this node publishes its counts to the cluster (``NodeReport``);
    /// a node is forgotten after five intervals without one.
    public var clusterReportInterval: Duration = .seconds(1)
    /// How presence is gathered and spread between nodes.
    public var presence = PresenceOptions()
    /// Sheds connections past an age, so the cluster rebalances by itself; off when `nil`.
    public var maxConnectionAge: ConnectionAgeLimit?
    /// Refuses and sheds connections while memory or connections stay too high; off when `nil`.
    public var resourceGuard: ResourceGuard?
    /// Where channel handlers run. `.eventLoop` (the default) keeps a
    /// handler on its connection's thread, so a reply needs no thread hop;
    /// handlers must not block. `.concurrentPool` runs them on Swift's global
    /// executor, for applications whose handlers do heavy synchronous work.
    public var handlerExecution: HandlerExecution = .eventLoop
    /// Fixed documents served on `GET` at their path (a demo page, say).
    public var pages: [String: StaticPage] = [:]
    /// The host clients reach this node by (Phoenix's `url: [host: …]`), for
    /// ``CheckOrigin/publicHost`` (`check_origin: true`).
    public var publicHost: String = "localhost"
    /// Reverse proxies whose `X-Forwarded-*` headers are believed; none by default.
    public var trustedProxies: TrustedProxies = TrustedProxies()
    /// Where the metrics go (the process's `MetricsSystem` by default),
    /// whether `GET /metrics` shows them and on which listeners.
    public var metrics: MetricsOptions = MetricsOptions()

    public init() {}

    /// Per-connection limits.
    public struct Limits: Sendable {
        /// Channels one socket may have joined at once.
        public var maxChannelsPerSocket: Int = 100
        /// Largest WebSocket message accepted, in bytes; larger ones close the
        /// connection with code 1009.
        public var maxFrameSize: Int = 1 << 20
        /// Bytes a connection may have queued for a client that does not read;
        /// past it the connection is closed with code 4008.
        public var maxOutboundBytes: Int = 4 << 20
        /// Silence after which a connection is closed (Phoenix: 60 s).
        public var heartbeatTimeout: Duration = .seconds(60)
        /// Bounds on decoding untrusted frames.
        public var decoding: DecodingLimits = .default
        /// Inbound messages (data frames and pings) one connection may send;
        /// beyond it the connection is closed with code 1008
        /// (``CloseCode/policyViolation``). `nil`: unlimited.
        public var inboundMessageRate: MessageRate? = MessageRate(perSecond: 200, burst: 400)
        /// WebSocket connections one client address may hold at once (the
        /// peer, or the `X-Forwarded-For` client of a trusted proxy); more are
        /// refused with HTTP 429. `nil`: unlimited.
        public var maxConnectionsPerAddress: Int? = nil
        /// Longest request line target and longest single header, in bytes
        /// (longer: HTTP 400 and the connection closed).
        public var maxHeaderFieldSize: Int = 8 << 10
        /// Largest request line and headers together, in bytes.
        public var maxHeadersSize: Int = 32 << 10
        /// Most header fields in one request.
        public var maxHeaderCount: Int = 100
        /// How long a connection may take to deliver a complete HTTP request
        /// (or stay idle between keep-alive requests) before it is closed.
        public var requestTimeout: Duration = .seconds(10)

        public init() {}
    }
}

/// Where channel handlers run; see ``ServerConfiguration/handlerExecution``.
public enum HandlerExecution: String, Sendable, Hashable, CaseIterable {
    case eventLoop = "event_loop"
    case concurrentPool = "concurrent_pool"
}

/// A fixed document served by the public listener.
public struct StaticPage: Sendable {
    public var contentType: String
    public var body: String

    public init(contentType: String = "text/html; charset=utf-8", body: String) {
        self.contentType = contentType
        self.body = body
    }
}
