/// The application's connection handler (Phoenix's `UserSocket`): decides who
/// may open a socket and what the socket knows about them.
public protocol Socket: Sendable {
    /// Runs before the WebSocket upgrade. `.error` refuses with HTTP 403.
    func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult

    /// An identifier shared by all sockets of one user (`"user_socket:42"`),
    /// so they can be disconnected together; `nil` for anonymous sockets.
    func id(assigns: Assigns) -> String?
}

extension Socket {
    public func id(assigns: Assigns) -> String? { nil }
}

/// Data attached to a socket by ``Socket/connect(params:info:)``, visible to
/// every channel of the socket.
public typealias Assigns = [String: JSONValue]

/// The answer to a connect.
public enum ConnectResult: Sendable {
    case ok(Assigns)
    case error
}

/// What the server knows about a connection before the upgrade.
public struct ConnectInfo: Sendable {
    /// The peer's address, `"127.0.0.1:51234"` style, when known.
    public var peerAddress: String?
    /// The request path with its query.
    public var uri: String
    /// Every request header, names lowercased.
    public var headers: [(name: String, value: String)]
    /// The token phoenix.js sends through its `authToken` option, decoded from
    /// the `Sec-WebSocket-Protocol` header.
    public var authToken: String?

    public init(peerAddress: String?, uri: String, headers: [(name: String, value: String)], authToken: String?) {
        self.peerAddress = peerAddress
        self.uri = uri
        self.headers = headers
        self.authToken = authToken
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name == name }?.value
    }
}
