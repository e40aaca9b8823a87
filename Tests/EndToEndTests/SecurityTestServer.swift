import Foundation
import Logging
import Switchboard
import SwitchboardClient

/// Servers for the security end-to-end tests: the built-in channels behind
/// a ``TokenSocket`` at `/socket`, a ``DemoSocket`` at `/open` with its own
/// origin check, logs captured.
struct SecurityTestServer {
    static let secret = "end-to-end-secret-end-to-end-secret-0123"
    static let namespace = "user_socket"
    static let upgradeHeaders = [
        "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]

    let server: SwitchboardServer
    let logs: SecurityLogCapture

    var port: Int { server.localPort! }

    /// A token for `subject`, signed with ``secret`` (or `secret`).
    static func token(_ subject: String = "42", namespace: String = namespace, ttl: Duration = .seconds(600), at time: Date = Date(), secret: String = secret) async throws -> String {
        try await TokenSigner(secretKeyBase: SecretKeyBase(secret)).sign(subject: subject, namespace: namespace, ttl: ttl, now: time)
    }

    static func start(
        checkOrigin: CheckOrigin = .conn,
        openCheckOrigin: CheckOrigin = .disabled,
        _ configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> SecurityTestServer {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoopThreads = 2
        configuration.shutdownGracePeriod = .seconds(2)
        configure(&configuration)
        let logs = SecurityLogCapture()
        let verifier = await TokenVerifier(secretKeyBase: try SecretKeyBase(secret), namespace: namespace)
        let endpoints = [
            SocketEndpoint(path: "/socket", socket: TokenSocket(verifier: verifier, logger: logs.logger()), router: BuiltIn.router(), checkOrigin: checkOrigin),
            SocketEndpoint(path: "/open", socket: DemoSocket(), router: BuiltIn.router(), checkOrigin: openCheckOrigin),
        ]
        let server = SwitchboardServer(configuration: configuration, endpoints: endpoints, logger: logs.logger())
        try await server.start()
        return SecurityTestServer(server: server, logs: logs)
    }

    /// A client of `/socket` (or `path`) with reconnects and heartbeats off.
    func client(
        path: String = "/socket/websocket",
        params: [String: String] = [:],
        authToken: String? = nil,
        _ configure: (inout PhoenixClient.Configuration) -> Void = { _ in }
    ) -> PhoenixClient {
        var configuration = PhoenixClient.Configuration(
            host: "127.0.0.1", port: port, path: path, params: params, authToken: authToken,
            heartbeatInterval: nil, reconnect: false
        )
        configure(&configuration)
        return PhoenixClient(configuration: configuration)
    }

    /// The HTTP status of an upgrade request to `/socket/websocket?vsn=2.0.0<query>` with extra headers.
    func upgradeStatus(query: String = "", path: String = "/socket/websocket", headers: [String] = []) async throws -> RawHTTP.Response {
        try await RawHTTP.request(port: port, path: "\(path)?vsn=2.0.0\(query)", headers: Self.upgradeHeaders + headers)
    }
}

/// Runs `body` with a started security test server, shutting it down after.
func withSecurityServer<T>(
    checkOrigin: CheckOrigin = .conn,
    openCheckOrigin: CheckOrigin = .disabled,
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (SecurityTestServer) async throws -> T
) async throws -> T {
    let server = try await SecurityTestServer.start(checkOrigin: checkOrigin, openCheckOrigin: openCheckOrigin, configure)
    do {
        let result = try await body(server)
        await server.server.shutdown()
        return result
    } catch {
        await server.server.shutdown()
        throw error
    }
}
