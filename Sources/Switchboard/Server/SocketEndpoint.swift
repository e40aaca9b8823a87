/// A socket mount point (Phoenix's `socket "/socket", UserSocket`): the path
/// clients connect to, who may connect, and which channels they can join.
public struct SocketEndpoint: Sendable {
    /// Mount path; clients open `<path>/websocket`. Default `/socket`.
    public var path: String
    /// Authenticates connections.
    public var socket: any Socket
    /// Maps topics to channels.
    public var router: ChannelRouter
    /// Which web origins may connect (Phoenix's `check_origin`); by default
    /// the request's own (`conn`). Requests without `Origin` are allowed.
    public var checkOrigin: CheckOrigin
    /// Offers permessage-deflate (RFC 7692) to clients that ask for it, as
    /// Phoenix's `compress: true`. Off by default: it trades CPU (about one
    /// compression per broadcast and event loop) for bytes on the wire.
    public var compress = false
    /// Serves Phoenix's long-poll transport at `<path>/longpoll` too, for
    /// clients that cannot hold a WebSocket (phoenix.js falls back to it with
    /// `longPollFallbackMs`); `nil` turns it off. On by default.
    public var longPoll: LongPollOptions? = LongPollOptions()
    /// Echoes every WebSocket message back instead of reading Phoenix
    /// messages, on the same transport (upgrade, frame checks, close
    /// handshake, outbound bound): the mount that a WebSocket conformance
    /// suite tests. Only the package's tests set it.
    package var echoesFrames = false

    public init(path: String = "/socket", socket: any Socket, router: ChannelRouter, checkOrigin: CheckOrigin = .conn) {
        self.path = path.hasSuffix("/") ? String(path.dropLast()) : path
        self.socket = socket
        self.router = router
        self.checkOrigin = checkOrigin
    }

    /// The WebSocket path: `<path>/websocket`.
    var websocketPath: String { path + "/websocket" }
    /// The long-poll path: `<path>/longpoll`.
    var longPollPath: String { path + "/longpoll" }
}

/// How a ``SocketEndpoint`` serves long-poll clients.
public struct LongPollOptions: Sendable, Hashable {
    /// How long a poll is held when nothing is queued for its session
    /// (Phoenix's `window_ms`); a session nobody polled for one and a half
    /// windows is closed.
    public var window: Duration = .seconds(10)
    /// Most messages one POST may carry (phoenix.js sends at most 100).
    public var maxMessagesPerPost = 1_000

    public init(window: Duration = .seconds(10), maxMessagesPerPost: Int = 1_000) {
        self.window = window
        self.maxMessagesPerPost = maxMessagesPerPost
    }
}
