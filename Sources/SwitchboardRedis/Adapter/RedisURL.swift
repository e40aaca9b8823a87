import Switchboard

/// Where a Redis server is and how to log in:
/// `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS.
///
/// - `redis://127.0.0.1:6379` — no password, database 0
/// - `redis://:secret@redis.internal/2` — a password alone (`AUTH secret`), database 2
/// - `redis://app:secret@10.0.0.5:6380` — an ACL user and password (`AUTH app secret`)
/// - `rediss://default:secret@redis.example.com:6379` — the same over TLS
///   (``RedisTLSConfiguration`` says which certificates to trust)
///
/// Behind Redis Sentinel: `redis+sentinel://[[user]:password@]h1[:26379],h2[:26379]/mastername`
/// (or `rediss+sentinel://…` for TLS to the master). The hosts are the
/// sentinels (port 26379 unless given); the master's address comes from
/// them. User and password are the master's, as for `redis://`; the
/// sentinels' own password is a separate setting
/// (``RedisAdapterConfiguration/sentinelPassword``).
///
/// A Redis Cluster: `redis+cluster://[[user]:password@]h1[:6379],h2[:6379]`
/// (or `rediss+cluster://…` for TLS to every node). The hosts are seeds,
/// asked in turn for the slot map (`CLUSTER SLOTS`); one is enough, more
/// let the adapter start while one is down. User and password are every
/// node's. A cluster has database 0 only: no path.
///
/// User and password may be percent-encoded (`%40` for `@`). The description
/// never shows the password.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// The server; for a Sentinel URL, the first sentinel until the master is known.
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Whether the connection is TLS (`rediss://`).
    public var tls: Bool
    /// The sentinels and master name of a `redis+sentinel://` URL; `nil` for a plain server.
    public var sentinel: RedisSentinelGroup?
    /// The seed nodes of a `redis+cluster://` URL; `nil` unless it is one.
    public var cluster: [RedisHostPort]?

    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0,
        tls: Bool = false
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses a `redis://` or `rediss://` URL.
    public init(_ string: String) throws(RedisURLError) {
        func invalid(_ problem: String) -> RedisURLError {
            RedisURLError(url: Self.redact(string), problem: problem)
        }
        let tls: Bool
        var isSentinel = false
        var isCluster = false
        let lowercased = string.lowercased()
        if lowercased.hasPrefix("redis://") {
            tls = false
        } else if lowercased.hasPrefix("rediss://") {
            tls = true
        } else if lowercased.hasPrefix("redis+sentinel://") {
            (tls, isSentinel) = (false, true)
        } else if lowercased.hasPrefix("rediss+sentinel://") {
            (tls, isSentinel) = (true, true)
        } else if lowercased.hasPrefix("redis+cluster://") {
            (tls, isCluster) = (false, true)
        } else if lowercased.hasPrefix("rediss+cluster://") {
            (tls, isCluster) = (true, true)
        } else {
            throw invalid(
                "expected a URL starting with redis:// (or rediss:// for TLS), such as redis://127.0.0.1:6379/0, redis+sentinel://host1:26379,host2:26379/mymaster for a Sentinel group, or redis+cluster://host1:7000,host2:7001 for a Redis Cluster"
            )
        }
        var rest = Substring(string.drop(while: { $0 != "/" }).dropFirst(2))
        guard !rest.contains(where: { $0 == "?" || $0 == "#" }) else {
            throw invalid("query parameters and fragments are not supported")
        }
        guard !rest.contains(where: { $0.isWhitespace }) else {
            throw invalid("must not contain spaces")
        }

        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":") else {
                throw invalid("expected user:password@ or :password@ before the host")
            }
            let user = userinfo[..<colon]
            let secret = userinfo[userinfo.index(after: colon)...]
            guard let decodedPassword = Self.percentDecode(secret), !decodedPassword.isEmpty else {
                throw invalid("the password is empty or badly percent-encoded")
            }
            if !user.isEmpty {
                guard let decodedUser = Self.percentDecode(user) else { throw invalid("the user name is badly percent-encoded") }
                username = decodedUser
            }
            password = decodedPassword
        }

        if isSentinel {
            guard let slash = rest.firstIndex(of: "/") else {
                throw invalid("expected the master's name after the sentinels, such as redis+sentinel://127.0.0.1:26379/mymaster")
            }
            let masterName = String(rest[rest.index(after: slash)...])
            guard !masterName.isEmpty, !masterName.contains("/") else {
                throw invalid("expected the master's name after the sentinels, such as redis+sentinel://127.0.0.1:26379/mymaster")
            }
            var sentinels: [RedisHostPort] = []
            for authority in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
                let (host, port) = try Self.hostAndPort(authority, defaultPort: 26379, invalid: invalid)
                sentinels.append(RedisHostPort(host: host, port: port))
            }
            self.init(host: sentinels[0].host, port: sentinels[0].port, username: username, password: password, tls: tls)
            self.sentinel = RedisSentinelGroup(sentinels: sentinels, masterName: masterName)
            return
        }

        if isCluster {
            var seeds = rest
            if let slash = rest.firstIndex(of: "/") {
                guard rest[rest.index(after: slash)...].allSatisfy({ $0 == "0" }) else {
                    throw invalid("a Redis Cluster has database 0 only: no path after the nodes, such as redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
                }
                seeds = rest[..<slash]
            }
            var nodes: [RedisHostPort] = []
            for authority in seeds.split(separator: ",", omittingEmptySubsequences: false) {
                let (host, port) = try Self.hostAndPort(authority, defaultPort: 6379, invalid: invalid)
                nodes.append(RedisHostPort(host: host, port: port))
            }
            self.init(host: nodes[0].host, port: nodes[0].port, username: username, password: password, tls: tls)
            self.cluster = nodes
            return
        }

        let authority: Substring
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard path.allSatisfy(\.isASCIIDigit), let number = Int(path), number <= 1_000_000 else {
                    throw invalid("expected a database number after the host, such as /0")
                }
                database = number
            }
        } else {
            authority = rest
        }

        let (host, port) = try Self.hostAndPort(authority, defaultPort: 6379, invalid: invalid)
        self.init(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// `host[:port]` or `[v6]:port`.
    private static func hostAndPort(
        _ authority: Substring, defaultPort: Int, invalid: (String) -> RedisURLError
    ) throws(RedisURLError) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("an IPv6 address must end with ]") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("expected :port after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }) else {
            throw invalid("the host \"\(host)\" is not a host name or an IP address")
        }
        var port = defaultPort
        if let portText {
            guard portText.allSatisfy(\.isASCIIDigit), let number = Int(portText), (1...65_535).contains(number) else {
                throw invalid("expected a port from 1 to 65535 after the host")
            }
            port = number
        }
        return (String(host), port)
    }

    /// `host:port`, for messages.
    public var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with the password hidden.
    public var description: String {
        var userinfo = ""
        if password != nil {
            userinfo = "\(username ?? ""):***@"
        }
        if let sentinel {
            return "\(tls ? "rediss" : "redis")+sentinel://\(userinfo)\(sentinel.sentinels.map(\.description).joined(separator: ","))/\(sentinel.masterName)"
        }
        if let cluster {
            return "\(tls ? "rediss" : "redis")+cluster://\(userinfo)\(cluster.map(\.description).joined(separator: ","))"
        }
        return "\(tls ? "rediss" : "redis")://\(userinfo)\(endpoint)/\(database)"
    }

    /// The same credentials and TLS for the server at `address` (a master
    /// the sentinels named, a cluster's node), as a plain server URL.
    func pointing(to address: RedisHostPort) -> RedisURL {
        RedisURL(host: address.host, port: address.port, username: username, password: password, database: database, tls: tls)
    }

    /// `string` with whatever stands between `://` and the last `@` hidden.
    private static func redact(_ string: String) -> String {
        guard let at = string.lastIndex(of: "@"), let colon = string[..<at].firstIndex(of: ":"),
              string[colon...].hasPrefix("://")
        else { return string }
        let start = string.index(colon, offsetBy: 3)
        guard start <= at else { return string }
        return string[..<start] + "***" + string[at...]
    }

    private static func percentDecode(_ text: Substring) -> String? {
        PercentDecoding.decode(text, plusIsSpace: false)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool {
        isASCII && isNumber
    }
}
