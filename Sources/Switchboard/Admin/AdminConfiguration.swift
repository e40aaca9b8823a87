#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the admin listener binds and the bearer token it requires; see
/// ``ServerConfiguration/admin``.
public struct AdminConfiguration: Sendable {
    /// Address of the admin listener; loopback by default.
    public var host: String = "127.0.0.1"
    /// Port of the admin listener; 0 picks a free one (see ``SwitchboardServer/adminPort``).
    public var port: Int = 4100
    /// The bearer token every admin request must present. When `nil`,
    /// `SWITCHBOARD_ADMIN_TOKEN` is used; with neither, the admin listener is
    /// not started.
    public var token: String?
    /// Whether to start the admin listener at all (when a token is known).
    public var enabled: Bool = true

    public init() {}

    /// The environment variable read when no token is configured.
    public static let tokenEnvironmentVariable = "SWITCHBOARD_ADMIN_TOKEN"

    /// The configured token, else the environment's; empty tokens count as none.
    public var resolvedToken: String? {
        if let token, !token.isEmpty { return token }
        if let value = getenv(Self.tokenEnvironmentVariable), case let token = String(cString: value), !token.isEmpty {
            return token
        }
        return nil
    }
}
