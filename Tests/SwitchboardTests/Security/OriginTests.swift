import NIOCore
import Testing

@testable import Switchboard

/// `check_origin` with Phoenix's semantics: parsing of origins and entries,
/// every form of the check, wildcard edges, and forwarded headers.
struct OriginTests {
    static let info = ConnectInfo(peerAddress: "127.0.0.1:5000", uri: "/socket/websocket", headers: [], authToken: nil)

    static func allows(_ check: CheckOrigin, _ origin: String?, request: Origin? = nil, publicHost: String = "example.com") -> Bool {
        check.allows(originHeaders: origin.map { [$0] } ?? [], request: request, publicHost: publicHost, info: info)
    }

    static func list(_ text: String) throws -> CheckOrigin {
        try CheckOrigin(parsing: text)
    }

    // MARK: Parsing

    @Test func originsParse() {
        #expect(Origin("https://Example.COM") == Origin(scheme: "https", host: "example.com", port: 443))
        #expect(Origin("http://example.com:8080") == Origin(scheme: "http", host: "example.com", port: 8080))
        #expect(Origin("http://example.com")?.port == 80)
        #expect(Origin("http://[::1]:4000") == Origin(scheme: "http", host: "::1", port: 4000))
        #expect(Origin("chrome-extension://abcdefgh") == Origin(scheme: "chrome-extension", host: "abcdefgh", port: nil))
        #expect(Origin("https://example.com:443")?.description == "https://example.com")
    }

    @Test(arguments: [
        "null", "", "file://", "file:///etc/passwd", "https://", "https://:443", "example.com", "//example.com",
        "https://example.com/", "https://example.com/path", "https://user@example.com", "https://example.com?x",
        "https://exa mple.com", "https://example.com:0", "https://example.com:65536", "https://example.com:",
        "https://example.com:80a", "1http://example.com", "ht tp://example.com", "https://[::1", "https://[zz]",
        "https://exämple.com", "https://example.com\u{0}",
    ])
    func nullHostlessAndMalformedOriginsDoNotParse(text: String) {
        #expect(Origin(text) == nil)
    }

    @Test func entriesParse() throws {
        #expect(try OriginPattern("//example.com") == OriginPattern.make(scheme: nil, host: "example.com", port: nil))
        #expect(try OriginPattern("//example.com:8080") == OriginPattern.make(scheme: nil, host: "example.com", port: 8080))
        #expect(try OriginPattern("https://example.com") == OriginPattern.make(scheme: "https", host: "example.com", port: 443))
        #expect(try OriginPattern("http://example.com:4000/") == OriginPattern.make(scheme: "http", host: "example.com", port: 4000))
        #expect(try OriginPattern("//*.Example.com") == OriginPattern.make(scheme: nil, host: "*.example.com", port: nil))
        #expect(try OriginPattern("chrome-extension://abc") == OriginPattern.make(scheme: "chrome-extension", host: "abc", port: nil))
    }

    @Test(arguments: ["example.com", "", "//", "https://", "//exa mple.com", "//example.com:x", "*.example.com", "https//example.com"])
    func badEntriesAreRefused(text: String) {
        #expect(throws: OriginPattern.ParseError.self) { try OriginPattern(text) }
    }

    @Test func checksParse() throws {
        #expect(try CheckOrigin(parsing: "true") == .publicHost)
        #expect(try CheckOrigin(parsing: "FALSE") == .disabled)
        #expect(try CheckOrigin(parsing: " conn ") == .conn)
        #expect(try CheckOrigin(parsing: "https://a.com, //b.com:81,") == .allowList([OriginPattern("https://a.com"), OriginPattern("//b.com:81")]))
        #expect(throws: OriginPattern.ParseError.self) { try CheckOrigin(parsing: ",") }
        #expect(throws: OriginPattern.ParseError.self) { try CheckOrigin(parsing: "yes") }
    }

    // MARK: The checks

    @Test func noOriginHeaderIsAllowedByEveryCheck() throws {
        for check in [CheckOrigin.disabled, .publicHost, .conn, try Self.list("//example.com")] {
            #expect(Self.allows(check, nil))
        }
    }

    @Test(arguments: ["null", "file://", "garbage", "https://example.com/x", ""])
    func nullAndUnparsableOriginsAreRefusedUnlessTheCheckIsOff(origin: String) throws {
        #expect(Self.allows(.disabled, origin))
        #expect(!Self.allows(.publicHost, origin))
        #expect(!Self.allows(.conn, origin, request: Origin("http://example.com")))
        #expect(!Self.allows(try Self.list("//example.com"), origin))
    }

    @Test func severalOriginHeadersAreRefused() {
        #expect(!CheckOrigin.publicHost.allows(originHeaders: ["https://example.com", "https://example.com"], request: nil, publicHost: "example.com", info: Self.info))
    }

    @Test func trueComparesTheHostOnly() {
        #expect(Self.allows(.publicHost, "https://example.com"))
        #expect(Self.allows(.publicHost, "http://EXAMPLE.com:8080"))
        #expect(!Self.allows(.publicHost, "https://www.example.com"))
        #expect(!Self.allows(.publicHost, "https://example.com.evil.com"))
        #expect(!Self.allows(.publicHost, "https://evilexample.com"))
    }

    @Test func aBareHostMatchesAnySchemeAndPort() throws {
        let check = try Self.list("//example.com")
        #expect(Self.allows(check, "https://example.com"))
        #expect(Self.allows(check, "http://example.com:4000"))
        #expect(Self.allows(check, "wss://example.com"))
        #expect(!Self.allows(check, "https://www.example.com"))
        #expect(!Self.allows(check, "https://example.com.evil.com"))
        #expect(!Self.allows(check, "https://evilexample.com"))
    }

    @Test func aPortIsEnforced() throws {
        let check = try Self.list("//example.com:8080")
        #expect(Self.allows(check, "http://example.com:8080"))
        #expect(Self.allows(check, "https://example.com:8080"))
        #expect(!Self.allows(check, "http://example.com"))
        #expect(!Self.allows(check, "http://example.com:8081"))
    }

    @Test func aSchemeFixesItsDefaultPort() throws {
        let check = try Self.list("https://example.com")
        #expect(Self.allows(check, "https://example.com"))
        #expect(Self.allows(check, "https://example.com:443"))
        #expect(!Self.allows(check, "http://example.com"))
        #expect(!Self.allows(check, "https://example.com:8443"))
        #expect(!Self.allows(check, "http://example.com:443"))
    }

    @Test func aWildcardMatchesTheDomainAndItsSubdomainsOnly() throws {
        let check = try Self.list("//*.example.com")
        #expect(Self.allows(check, "https://example.com"))
        #expect(Self.allows(check, "https://www.example.com"))
        #expect(Self.allows(check, "http://a.b.example.com:9000"))
        #expect(!Self.allows(check, "https://evilexample.com"))
        #expect(!Self.allows(check, "https://example.com.evil.com"))
        #expect(!Self.allows(check, "https://www.example.com.evil.com"))
        #expect(!Self.allows(check, "https://example.co"))
        #expect(!Self.allows(check, "https://xample.com"))
        let secure = try Self.list("https://*.example.com")
        #expect(Self.allows(secure, "https://www.example.com"))
        #expect(!Self.allows(secure, "http://www.example.com"))
    }

    @Test func extensionOriginsMatchTheirOwnEntryOnly() throws {
        let check = try Self.list("chrome-extension://abcdef, //example.com")
        #expect(Self.allows(check, "chrome-extension://abcdef"))
        #expect(!Self.allows(check, "chrome-extension://abcdeg"))
        #expect(!Self.allows(check, "moz-extension://abcdef"))
        #expect(Self.allows(check, "https://example.com"))
    }

    @Test func connComparesSchemeHostAndPort() {
        let request = Origin("http://127.0.0.1:4000")
        #expect(Self.allows(.conn, "http://127.0.0.1:4000", request: request))
        #expect(!Self.allows(.conn, "https://127.0.0.1:4000", request: request))
        #expect(!Self.allows(.conn, "http://127.0.0.1:4001", request: request))
        #expect(!Self.allows(.conn, "http://localhost:4000", request: request))
        #expect(!Self.allows(.conn, "http://127.0.0.1:4000", request: nil))
    }

    @Test func aCustomHookDecidesOnParsedOrigins() {
        let hook = OriginCheckHook(name: "tenants") { origin, _ in origin.host.hasSuffix(".tenant.test") }
        #expect(Self.allows(.custom(hook), "https://a.tenant.test"))
        #expect(!Self.allows(.custom(hook), "https://tenant.test"))
        #expect(!Self.allows(.custom(hook), "null"))
        #expect(CheckOrigin.custom(hook).description == "custom(tenants)")
    }

    // MARK: The request's own origin and proxies

    static func headers(_ pairs: KeyValuePairs<String, String>) -> [(name: String, value: String)] {
        pairs.map { (name: $0.key, value: $0.value) }
    }

    @Test func theRequestOriginComesFromTheHostHeader() {
        #expect(Origin.forRequest(headers: Self.headers(["host": "Example.com:4000"]), trustForwarded: false) == Origin("http://example.com:4000"))
        #expect(Origin.forRequest(headers: Self.headers(["host": "example.com"]), trustForwarded: false) == Origin("http://example.com"))
        #expect(Origin.forRequest(headers: [], trustForwarded: false) == nil)
        #expect(Origin.forRequest(headers: Self.headers(["host": "a.com", "host": "b.com"]), trustForwarded: false) == nil)
        #expect(Origin.forRequest(headers: Self.headers(["host": "a.com/x"]), trustForwarded: false) == nil)
    }

    @Test func forwardedHeadersCountOnlyFromTrustedProxies() {
        let headers = Self.headers(["host": "10.0.0.5:4000", "x-forwarded-proto": "https", "x-forwarded-host": "chat.example.com"])
        #expect(Origin.forRequest(headers: headers, trustForwarded: false) == Origin("http://10.0.0.5:4000"))
        #expect(Origin.forRequest(headers: headers, trustForwarded: true) == Origin("https://chat.example.com"))
        // A value the client sent ahead of the proxy's own (appended) one does not win.
        let appended = Self.headers(["host": "h", "x-forwarded-proto": "http, https", "x-forwarded-host": "evil.com, chat.example.com"])
        #expect(Origin.forRequest(headers: appended, trustForwarded: true) == Origin("https://chat.example.com"))
        #expect(Origin.forRequest(headers: Self.headers(["host": "h", "x-forwarded-proto": "gopher"]), trustForwarded: true) == nil)
    }

    @Test func trustedProxiesParseAndMatch() throws {
        let proxies = try #require(TrustedProxies(parsing: "127.0.0.1, 10.0.0.0/8, fd00::/8, ::1"))
        #expect(proxies.contains(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        #expect(proxies.contains(try SocketAddress(ipAddress: "10.200.3.4", port: 1)))
        #expect(proxies.contains(try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 1)))
        #expect(proxies.contains(try SocketAddress(ipAddress: "fd12::1", port: 1)))
        #expect(proxies.contains(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(!proxies.contains(try SocketAddress(ipAddress: "127.0.0.2", port: 1)))
        #expect(!proxies.contains(try SocketAddress(ipAddress: "11.0.0.1", port: 1)))
        #expect(!proxies.contains(try SocketAddress(ipAddress: "fe80::1", port: 1)))
        #expect(!TrustedProxies().contains(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        for bad in ["10.0.0.0/33", "10.0.0", "example.com", "1.2.3.4/", "::1/129", "1.2.3.4/-1"] {
            #expect(TrustedProxies(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func theClientAddressBehindTrustedProxies() throws {
        let proxies = try #require(TrustedProxies(parsing: "10.0.0.0/8"))
        let proxy = try SocketAddress(ipAddress: "10.0.0.1", port: 1)
        let stranger = try SocketAddress(ipAddress: "203.0.113.9", port: 1)
        // From an untrusted peer, X-Forwarded-For is ignored.
        #expect(proxies.clientAddress(peer: stranger, forwardedFor: ["1.1.1.1"]) == "203.0.113.9")
        // From a proxy, the right-most untrusted hop is the client; what the client itself claims is ignored.
        #expect(proxies.clientAddress(peer: proxy, forwardedFor: ["6.6.6.6, 198.51.100.7"]) == "198.51.100.7")
        #expect(proxies.clientAddress(peer: proxy, forwardedFor: ["198.51.100.7, 10.0.0.2"]) == "198.51.100.7")
        #expect(proxies.clientAddress(peer: proxy, forwardedFor: []) == "10.0.0.1")
        #expect(proxies.clientAddress(peer: proxy, forwardedFor: ["garbage"]) == "10.0.0.1")
        #expect(proxies.clientAddress(peer: try SocketAddress(ipAddress: "::ffff:203.0.113.9", port: 1), forwardedFor: []) == "203.0.113.9")
    }
}

extension OriginPattern {
    /// A pattern built from its parts, for comparisons.
    static func make(scheme: String?, host: String, port: Int?) -> OriginPattern {
        var pattern = try! OriginPattern("//x")
        pattern.scheme = scheme
        pattern.host = host
        pattern.port = port
        return pattern
    }
}
