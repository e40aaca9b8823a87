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
}
