/// Why a ``RedisAdapter`` could not start. Once started it survives Redis
/// going away; only the first connection must succeed.
public enum RedisAdapterError: Error, Sendable, CustomStringConvertible {
    /// Nothing answered at the URL's host and port.
    case unreachable(url: RedisURL, reason: String)
    /// Connecting or the handshake took longer than the connect timeout.
    case timedOut(url: RedisURL, after: Duration)
    /// The server wants a password and the URL has none (`NOAUTH`).
    case authenticationRequired(url: RedisURL)
    /// AUTH was refused (`WRONGPASS`, or a password sent to a server without one).
    case authenticationFailed(url: RedisURL, message: String)
    /// SELECT was refused (`ERR DB index is out of range`).
    case databaseUnavailable(url: RedisURL, message: String)
    /// Anything else the server or connection did wrong during the handshake.
    case handshakeFailed(url: RedisURL, reason: String)
    /// The configuration cannot work (e.g. a node name with spaces).
    case invalidConfiguration(String)
    /// ``RedisAdapter/start(deliver:)`` was called twice, or after shutdown.
    case notStartable

    public var description: String {
        switch self {
        case .unreachable(let url, let reason):
            return "cannot reach Redis at \(url.endpoint) (\(url)): \(reason)"
        case .timedOut(let url, let after):
            return "Redis at \(url.endpoint) (\(url)) did not answer within the connect timeout of \(after)"
        case .authenticationRequired(let url):
            return "Redis at \(url.endpoint) requires a password (NOAUTH) and \(url) has none; use redis://:password@host:port or redis://user:password@host:port"
        case .authenticationFailed(let url, let message):
            return "Redis at \(url.endpoint) refused the credentials in \(url): \(message)"
        case .databaseUnavailable(let url, let message):
            return "Redis at \(url.endpoint) refused database \(url.database): \(message)"
        case .handshakeFailed(let url, let reason):
            return "Redis at \(url.endpoint) (\(url)) failed the connection handshake: \(reason)"
        case .invalidConfiguration(let problem):
            return "invalid Redis adapter configuration: \(problem)"
        case .notStartable:
            return "the Redis adapter was already started or shut down"
        }
    }
}
