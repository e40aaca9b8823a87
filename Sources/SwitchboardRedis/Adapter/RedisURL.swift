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
/// User and password may be percent-encoded (`%40` for `@`). The description
/// never shows the password.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Whether the connection is TLS (`rediss://`).
    public var tls: Bool

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
        if string.lowercased().hasPrefix("redis://") {
            tls = false
        } else if string.lowercased().hasPrefix("rediss://") {
            tls = true
        } else {
            throw invalid("expected a URL starting with redis:// (or rediss:// for TLS), such as redis://127.0.0.1:6379/0")
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
        var port = 6379
        if let portText {
            guard portText.allSatisfy(\.isASCIIDigit), let number = Int(portText), (1...65_535).contains(number) else {
                throw invalid("expected a port from 1 to 65535 after the host")
            }
            port = number
        }
        self.init(host: String(host), port: port, username: username, password: password, database: database, tls: tls)
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
        return "\(tls ? "rediss" : "redis")://\(userinfo)\(endpoint)/\(database)"
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
