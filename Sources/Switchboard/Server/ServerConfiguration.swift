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
    /// Event loop threads; defaults to one per core.
    public var eventLoopThreads: Int = System.coreCount
    /// How long a graceful shutdown waits for connections to close.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Fixed documents served on `GET` at their path (a demo page, say).
    public var pages: [String: StaticPage] = [:]

    public init() {}

    /// Per-connection limits.
    public struct Limits: Sendable {
        /// Channels one socket may have joined at once.
        public var maxChannelsPerSocket: Int = 100
        /// Largest WebSocket message accepted, in bytes; larger ones close the
        /// connection with code 1009.
        public var maxFrameSize: Int = 1 << 20
        /// Silence after which a connection is closed (Phoenix: 60 s).
        public var heartbeatTimeout: Duration = .seconds(60)
        /// Bounds on decoding untrusted frames.
        public var decoding: DecodingLimits = .default

        public init() {}
    }
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
