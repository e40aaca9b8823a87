/// One entry of a `check_origin` list, Phoenix style: `scheme://host:port`
/// with the scheme and port optional.
///
/// - `//example.com`: that host, any scheme, any port.
/// - `//example.com:8080`: that host and port, any scheme.
/// - `https://example.com`: scheme https and port 443 (the scheme's default).
/// - `//*.example.com`: `example.com` and every subdomain of it — never
///   `evilexample.com` nor `example.com.evil.com`.
/// - `chrome-extension://abcdef`: that scheme and host (no default port).
public struct OriginPattern: Sendable, Hashable, CustomStringConvertible {
    /// The required scheme; `nil` for any.
    public var scheme: String?
    /// The required host, lowercased; a leading `*.` matches the domain and its subdomains.
    public var host: String
    /// The required port; `nil` for any.
    public var port: Int?

    /// Parses an entry.
    ///
    /// - Throws: ``ParseError`` for an entry without `//`, or with an empty or malformed host or port.
    public init(_ text: String) throws(ParseError) {
        let text = text.trimmingWhitespace()
        guard let separator = text.firstRange(of: "//") else { throw ParseError(entry: text) }
        let schemePart = text[..<separator.lowerBound]
        var authority = text[separator.upperBound...]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        let wildcard = authority.hasPrefix("*.")
        if wildcard { authority = authority.dropFirst(2) }
        guard let (host, port) = Origin.authority(authority) else { throw ParseError(entry: text) }
        if schemePart.isEmpty {
            scheme = nil
            self.port = port
        } else {
            guard schemePart.hasSuffix(":"), let origin = Origin("\(schemePart)//\(host.contains(":") ? "[\(host)]" : host)") else {
                throw ParseError(entry: text)
            }
            scheme = origin.scheme
            self.port = port ?? origin.port
        }
        self.host = wildcard ? "*." + host : host
    }

    /// Whether `origin` is allowed by this entry.
    public func matches(_ origin: Origin) -> Bool {
        if let scheme, scheme != origin.scheme { return false }
        if let port, port != origin.port { return false }
        if host.hasPrefix("*.") {
            let domain = host.dropFirst(2)
            return origin.host == domain || origin.host.hasSuffix("." + domain)
        }
        return origin.host == host
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        let port = self.port.map { ":\($0)" } ?? ""
        return "\(scheme.map { "\($0):" } ?? "")//\(host)\(port)"
    }

    /// A `check_origin` entry that cannot be parsed.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var entry: String
        public var description: String {
            "invalid origin \"\(entry)\": expected scheme://host[:port] or //host[:port], such as https://example.com, //example.com:8080 or //*.example.com"
        }
    }
}
