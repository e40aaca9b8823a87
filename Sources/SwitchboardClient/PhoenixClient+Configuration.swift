import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchboardProtocol

extension PhoenixClient {
    /// Everything a ``PhoenixClient`` needs to know before it connects.
    ///
    /// Defaults follow phoenix.js 1.8: V2 serializer, heartbeat every 30 s,
    /// push timeout 10 s, stepped reconnect and rejoin backoffs, automatic
    /// reconnect after any close that is not code 1000.
    public struct Configuration: Sendable {
        /// Server host name or IP literal.
        public var host: String
        /// Server port.
        public var port: Int
        /// The socket's path; phoenix.js appends `/websocket` to the endpoint.
        /// Long-poll replaces the last `/websocket` in it with `/longpoll`.
        public var path: String
        /// Connect params, sent in the query string (sorted by key, percent-encoded).
        public var params: [String: String]
        /// The serializer version; its `vsn` is appended to the query.
        public var vsn: SerializerVersion
        /// A token sent as phoenix.js does: `Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<token>`
        /// over WebSocket, `X-Phoenix-AuthToken: <token>` on long-poll GETs.
        public var authToken: String?
        /// Extra request headers, e.g. `Origin`.
        public var headers: HTTPHeaders
        /// Heartbeat interval; `nil` sends no heartbeats (for idle-timeout tests).
        /// Long-poll never sends heartbeats (phoenix.js `skipHeartbeat`).
        public var heartbeatInterval: TimeAmount?
        /// Delays between reconnect attempts.
        public var reconnectBackoff: Backoff
        /// Delays between channel rejoin attempts.
        public var rejoinBackoff: Backoff
        /// Default timeout of joins, pushes and leaves.
        public var timeout: TimeAmount
        /// Whether the client reconnects after an unexpected close (not code 1000,
        /// not ``PhoenixClient/disconnect(code:reason:)``), once it has been connected.
        public var reconnect: Bool
        /// Local address to bind before connecting (e.g. `"127.0.0.2"`), to spread
        /// ephemeral ports over several source addresses. Use an IP literal `host`
        /// of the same family with it.
        public var localAddress: String?
        /// Where the client's event loop comes from; the client uses one loop of it.
        public var eventLoopGroup: any EventLoopGroup
        /// Largest WebSocket message accepted from the server, in bytes
        /// (fragments included). A long-poll answer may hold up to 64 times this.
        public var maxFrameSize: Int
        /// TCP connect timeout (and, over WebSocket, the upgrade's).
        public var connectTimeout: TimeAmount
        /// How long a close handshake the client started may take before the TCP
        /// connection is dropped.
        public var closeTimeout: TimeAmount
        /// Bounds applied while decoding server frames.
        public var decodingLimits: DecodingLimits
        /// Whether channels feed their `messages` stream and `nextMessage` inbox.
        /// Turn off for load generation (use `on` callbacks); with it off,
        /// `messages` is finished at once and `nextMessage` only sees messages
        /// arriving while it waits.
        public var recordsMessages: Bool
        /// Whether a joined channel that receives a server `phx_close` (not after
        /// its own leave) rejoins with the rejoin backoff. phoenix.js does not
        /// (the channel closes); this is off by default.
        public var rejoinOnServerClose: Bool
        /// Logger for connection-level events; no output by default.
        public var logger: Logger
        /// The transport to connect with (phoenix.js `transport`).
        public var transport: Transport
        /// phoenix.js `longPollFallbackMs`: with a `.webSocket` transport, fall
        /// back to long-poll for the rest of the client's life when a WebSocket
        /// attempt fails before it opened, does not open within this time, or
        /// does not answer a ping within this time after it opened. `nil` (the
        /// default) never falls back.
        public var longPollFallback: TimeAmount?
        /// phoenix.js `longpollerTimeout`: how long a long-poll request (poll or
        /// post) may take. Keep it above the server's poll window (10 s in Phoenix).
        public var longPollTimeout: TimeAmount

        public init(
            host: String = "127.0.0.1",
            port: Int = 4000,
            path: String = "/socket/websocket",
            params: [String: String] = [:],
            vsn: SerializerVersion = .v2,
            authToken: String? = nil,
            headers: HTTPHeaders = [:],
            heartbeatInterval: TimeAmount? = .seconds(30),
            reconnectBackoff: Backoff = .reconnect,
            rejoinBackoff: Backoff = .rejoin,
            timeout: TimeAmount = .seconds(10),
            reconnect: Bool = true,
            localAddress: String? = nil,
            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
            maxFrameSize: Int = 1 << 20,
            connectTimeout: TimeAmount = .seconds(10),
            closeTimeout: TimeAmount = .seconds(2),
            decodingLimits: DecodingLimits = .default,
            recordsMessages: Bool = true,
            rejoinOnServerClose: Bool = false,
            logger: Logger = Logger(label: "switchboard.client", factory: { _ in SwiftLogNoOpLogHandler() }),
            transport: Transport = .webSocket,
            longPollFallback: TimeAmount? = nil,
            longPollTimeout: TimeAmount = .seconds(20)
        ) {
            self.host = host
            self.port = port
            self.path = path
            self.params = params
            self.vsn = vsn
            self.authToken = authToken
            self.headers = headers
            self.heartbeatInterval = heartbeatInterval
            self.reconnectBackoff = reconnectBackoff
            self.rejoinBackoff = rejoinBackoff
            self.timeout = timeout
            self.reconnect = reconnect
            self.localAddress = localAddress
            self.eventLoopGroup = eventLoopGroup
            self.maxFrameSize = maxFrameSize
            self.connectTimeout = connectTimeout
            self.closeTimeout = closeTimeout
            self.decodingLimits = decodingLimits
            self.recordsMessages = recordsMessages
            self.rejoinOnServerClose = rejoinOnServerClose
            self.logger = logger
            self.transport = transport
            self.longPollFallback = longPollFallback
            self.longPollTimeout = longPollTimeout
        }
    }
}
