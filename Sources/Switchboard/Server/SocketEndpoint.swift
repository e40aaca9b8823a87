/// A socket mount point (Phoenix's `socket "/socket", UserSocket`): the path
/// clients connect to, who may connect, and which channels they can join.
public struct SocketEndpoint: Sendable {
    /// Mount path; clients open `<path>/websocket`. Default `/socket`.
    public var path: String
    /// Authenticates connections.
    public var socket: any Socket
    /// Maps topics to channels.
    public var router: ChannelRouter

    public init(path: String = "/socket", socket: any Socket, router: ChannelRouter) {
        self.path = path.hasSuffix("/") ? String(path.dropLast()) : path
        self.socket = socket
        self.router = router
    }

    /// The WebSocket path: `<path>/websocket`.
    var websocketPath: String { path + "/websocket" }
}
