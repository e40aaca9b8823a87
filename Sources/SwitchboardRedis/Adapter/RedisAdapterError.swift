/// Why a ``RedisAdapter`` could not start. Once started it survives Redis
/// going away; only the first connection must succeed.
/// (A struct around a private enum: a new kind of error is not a breaking change.)
public struct RedisAdapterError: Error, Sendable, CustomStringConvertible {
    private enum Base: Sendable {
        case unreachable(url: RedisURL, reason: String)
        case timedOut(url: RedisURL, after: Duration)
        case authenticationRequired(url: RedisURL)
        case authenticationFailed(url: RedisURL, message: String)
        case databaseUnavailable(url: RedisURL, message: String)
        case handshakeFailed(url: RedisURL, reason: String)
        case tlsFailed(url: RedisURL, reason: String)
        case permissionDenied(url: RedisURL, command: String, message: String, needed: String)
        case sentinelFailed(group: RedisSentinelGroup, reasons: [String])
        case notMaster(url: RedisURL, role: String)
        case clusterFailed(seeds: [RedisHostPort], reasons: [String])
        case invalidConfiguration(String)
        case notStartable
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// Nothing answered at the URL's host and port.
    public static func unreachable(url: RedisURL, reason: String) -> RedisAdapterError {
        RedisAdapterError(.unreachable(url: url, reason: reason))
    }

    /// Connecting or the handshake took longer than the connect timeout.
    public static func timedOut(url: RedisURL, after: Duration) -> RedisAdapterError {
        RedisAdapterError(.timedOut(url: url, after: after))
    }

    /// The server wants a password and the URL has none (`NOAUTH`).
    public static func authenticationRequired(url: RedisURL) -> RedisAdapterError {
        RedisAdapterError(.authenticationRequired(url: url))
    }

    /// AUTH was refused (`WRONGPASS`, or a password sent to a server without one).
    public static func authenticationFailed(url: RedisURL, message: String) -> RedisAdapterError {
        RedisAdapterError(.authenticationFailed(url: url, message: message))
    }

    /// SELECT was refused (`ERR DB index is out of range`).
    public static func databaseUnavailable(url: RedisURL, message: String) -> RedisAdapterError {
        RedisAdapterError(.databaseUnavailable(url: url, message: message))
    }

    /// Anything else the server or connection did wrong during the handshake.
    public static func handshakeFailed(url: RedisURL, reason: String) -> RedisAdapterError {
        RedisAdapterError(.handshakeFailed(url: url, reason: reason))
    }

    /// The TLS connection to a `rediss://` URL failed: the server's
    /// certificate was not accepted, or the server did not accept this node.
    public static func tlsFailed(url: RedisURL, reason: String) -> RedisAdapterError {
        RedisAdapterError(.tlsFailed(url: url, reason: reason))
    }

    /// The ACL user may log in but not do what the adapter needs: Redis
    /// answered `command` with `NOPERM`. `needed` says which rights it takes.
    public static func permissionDenied(url: RedisURL, command: String, message: String, needed: String) -> RedisAdapterError {
        RedisAdapterError(.permissionDenied(url: url, command: command, message: message, needed: needed))
    }

    /// No sentinel of a `redis+sentinel://` URL named the master: each was
    /// unreachable, refused the credentials, or monitors no master of that
    /// name (`reasons`, one per sentinel).
    public static func sentinelFailed(group: RedisSentinelGroup, reasons: [String]) -> RedisAdapterError {
        RedisAdapterError(.sentinelFailed(group: group, reasons: reasons))
    }

    /// The server a sentinel named as the master answered `ROLE` with
    /// another role (a stale answer, or a master demoted meanwhile); the
    /// adapter never publishes to it.
    public static func notMaster(url: RedisURL, role: String) -> RedisAdapterError {
        RedisAdapterError(.notMaster(url: url, role: role))
    }

    /// No node of a `redis+cluster://` URL gave a usable slot map: each was
    /// unreachable, refused the credentials, is not in cluster mode, or
    /// answered `CLUSTER SLOTS` with something unusable (`reasons`, one per node).
    public static func clusterFailed(seeds: [RedisHostPort], reasons: [String]) -> RedisAdapterError {
        RedisAdapterError(.clusterFailed(seeds: seeds, reasons: reasons))
    }

    /// The configuration cannot work (e.g. a node name with spaces).
    public static func invalidConfiguration(_ detail: String) -> RedisAdapterError {
        RedisAdapterError(.invalidConfiguration(detail))
    }

    /// ``RedisAdapter/start(deliver:control:)`` was called twice, or after shutdown.
    public static let notStartable = RedisAdapterError(.notStartable)

    public var description: String {
        switch base {
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
        case .tlsFailed(let url, let reason):
            return "TLS connection to Redis at \(url.endpoint) (\(url)) failed: \(reason)"
        case .permissionDenied(let url, let command, let message, let needed):
            return "Redis at \(url.endpoint) refused \(command) to user \(url.username ?? "default") (\(url)): \(message); the adapter's ACL user needs \(needed)"
        case .sentinelFailed(let group, let reasons):
            return "no sentinel named the master \"\(group.masterName)\" (asked \(group.sentinels.map(\.description).joined(separator: ", "))): \(reasons.joined(separator: "; "))"
        case .notMaster(let url, let role):
            return "Redis at \(url.endpoint), named by the sentinels as the master, is a \(role), not a master; asking the sentinels again"
        case .clusterFailed(let seeds, let reasons):
            return "no Redis Cluster node gave its slot map (asked \(seeds.map(\.description).joined(separator: ", "))): \(reasons.joined(separator: "; "))"
        case .invalidConfiguration(let problem):
            return "invalid Redis adapter configuration: \(problem)"
        case .notStartable:
            return "the Redis adapter was already started or shut down"
        }
    }
}
