/// A web origin as a browser sends it in the `Origin` header:
/// `scheme://host[:port]`, nothing else. Scheme and host are lowercased, an
/// IPv6 host loses its brackets, and the port is the explicit one or the
/// scheme's default (80 for http/ws, 443 for https/wss; none for other schemes).
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int?

    public init(scheme: String, host: String, port: Int?) {
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
        self.port = port ?? Self.defaultPort(scheme: self.scheme)
    }

    /// Parses an `Origin` header value; `nil` for `null`, a missing or empty
    /// host (`file://`), a path, user info, query, bad characters or a bad port.
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count <= Self.maxLength, let separator = text.firstRange(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound]
        guard Self.isScheme(scheme), let (host, port) = Self.authority(text[separator.upperBound...]) else { return nil }
        self.init(scheme: String(scheme), host: host, port: port)
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        guard let port, port != Self.defaultPort(scheme: scheme) else { return "\(scheme)://\(host)" }
        return "\(scheme)://\(host):\(port)"
    }

    /// Longest origin parsed.
    static let maxLength = 1024

    /// The default port of a scheme, if it has a well-known one.
    static func defaultPort(scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": return 80
        case "https", "wss": return 443
        default: return nil
        }
    }

    /// `host[:port]` (a `Host` header, or an origin without its scheme):
    /// the lowercased host and the port if given. `nil` when empty or
    /// malformed. Hosts are DNS names or IP literals; IPv6 in brackets.
    package static func authority(_ text: some StringProtocol) -> (host: String, port: Int?)? {
        let host: Substring
        let rest: Substring
        let text = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            rest = text[text.index(after: close)...]
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            let colon = text.firstIndex(of: ":") ?? text.endIndex
            host = text[..<colon]
            rest = text[colon...]
            guard !host.isEmpty, host.unicodeScalars.allSatisfy(isHostCharacter) else { return nil }
        }
        guard !rest.isEmpty else { return (host.lowercased(), nil) }
        let digits = rest.dropFirst()
        guard rest.first == ":", (1...5).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(digits), (1...65_535).contains(port)
        else { return nil }
        return (host.lowercased(), port)
    }

    private static func isHostCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "." || scalar == "_")
    }

    private static func isScheme(_ text: some StringProtocol) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "+" || scalar == "-" || scalar == ".")
        }
    }
}

extension Origin {
    /// The request's own origin, for ``CheckOrigin/conn``: scheme `http` and
    /// the `Host` header; when the peer is a trusted proxy, the last value of
    /// `X-Forwarded-Proto` (`http` or `https`) and of `X-Forwarded-Host`
    /// replace them. `nil` without a single well-formed host.
    static func forRequest(headers: [(name: String, value: String)], trustForwarded: Bool) -> Origin? {
        func values(_ name: String) -> [String] {
            headers.filter { $0.name == name }.flatMap { $0.value.split(separator: ",") }.map { String($0).trimmingWhitespace() }
        }
        var scheme = "http"
        let hosts = values("host")
        guard hosts.count == 1 else { return nil }
        var authority = hosts[0]
        if trustForwarded {
            if let proto = values("x-forwarded-proto").last?.lowercased() {
                guard proto == "http" || proto == "https" else { return nil }
                scheme = proto
            }
            if let host = values("x-forwarded-host").last {
                authority = host
            }
        }
        guard let (host, port) = Origin.authority(authority) else { return nil }
        return Origin(scheme: scheme, host: host, port: port)
    }
}
