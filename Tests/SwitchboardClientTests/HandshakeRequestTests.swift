import NIOCore
import Switchboard
import Testing

@testable import SwitchboardClient

@Suite("Handshake request")
struct HandshakeRequestTests {
    @Test("base64url follows RFC 4648 vectors, without padding")
    func base64URLVectors() {
        #expect(Base64.encodeURL("") == "")
        #expect(Base64.encodeURL("f") == "Zg")
        #expect(Base64.encodeURL("fo") == "Zm8")
        #expect(Base64.encodeURL("foo") == "Zm9v")
        #expect(Base64.encodeURL("foob") == "Zm9vYg")
        #expect(Base64.encodeURL("fooba") == "Zm9vYmE")
        #expect(Base64.encodeURL("foobar") == "Zm9vYmFy")
    }

    @Test("base64url uses - and _ where base64 has + and /")
    func base64URLAlphabet() {
        // Standard base64 of these bytes is "+/8=" and "+++/".
        #expect(Base64.encodeURL([0xFB, 0xFF]) == "-_8")
        #expect(Base64.encodeURL([0xFB, 0xEF, 0xBF]) == "---_")
        #expect(Base64.encodeURL([0x00, 0x00, 0x00]) == "AAAA")
        #expect(Base64.encodeURL([0xFF, 0xFF, 0xFF]) == "____")
    }

    @Test("auth token goes in Sec-WebSocket-Protocol as phoenix.js sends it")
    func authTokenSubprotocol() {
        #expect(HandshakeRequest.subprotocols(authToken: "foobar") == "phoenix, base64url.bearer.phx.Zm9vYmFy")
        // A token whose base64 has "+", "/" and "=": "?>?" → "Pz4/" (standard) → "Pz4_".
        #expect(HandshakeRequest.subprotocols(authToken: "?>?") == "phoenix, base64url.bearer.phx.Pz4_")
        #expect(HandshakeRequest.subprotocols(authToken: "a") == "phoenix, base64url.bearer.phx.YQ")
        // UTF-8 bytes of the token are encoded: "é" is C3 A9.
        #expect(HandshakeRequest.subprotocols(authToken: "é") == "phoenix, base64url.bearer.phx.w6k")
    }

    @Test("query has sorted params, then vsn")
    func queryOrder() {
        let target = HandshakeRequest.requestTarget(
            path: "/socket/websocket",
            params: ["token": "abc", "user_id": "7", "a": "1"],
            vsn: "2.0.0"
        )
        #expect(target == "/socket/websocket?a=1&token=abc&user_id=7&vsn=2.0.0")
    }

    @Test("no params: only vsn")
    func onlyVsn() {
        #expect(HandshakeRequest.requestTarget(path: "/socket/websocket", params: [:], vsn: "1.0.0") == "/socket/websocket?vsn=1.0.0")
    }

    @Test("a vsn param replaces the configured version")
    func vsnOverride() {
        #expect(HandshakeRequest.requestTarget(path: "/s", params: ["vsn": "9.9.9"], vsn: "2.0.0") == "/s?vsn=9.9.9")
    }

    @Test("a path with a query gets & and a path without / gets one")
    func pathShapes() {
        #expect(HandshakeRequest.requestTarget(path: "/s?x=1", params: [:], vsn: "2.0.0") == "/s?x=1&vsn=2.0.0")
        #expect(HandshakeRequest.requestTarget(path: "socket/websocket", params: [:], vsn: "2.0.0") == "/socket/websocket?vsn=2.0.0")
    }

    @Test("percent-encoding keeps only unreserved characters", arguments: [
        ("abcXYZ019-._~", "abcXYZ019-._~"),
        ("a b", "a%20b"),
        ("a&b=c", "a%26b%3Dc"),
        ("a+b/c?d#e", "a%2Bb%2Fc%3Fd%23e"),
        ("100%", "100%25"),
        ("é", "%C3%A9"),
        ("😀", "%F0%9F%98%80"),
        ("", ""),
    ])
    func percentEncoding(input: String, expected: String) {
        #expect(HandshakeRequest.percentEncode(input) == expected)
    }

    @Test("params are percent-encoded in keys and values")
    func encodedParams() {
        let target = HandshakeRequest.requestTarget(path: "/socket/websocket", params: ["user name": "Ann & Bob"], vsn: "2.0.0")
        #expect(target == "/socket/websocket?user%20name=Ann%20%26%20Bob&vsn=2.0.0")
    }

    @Test("headers: Host, extra headers, subprotocol; GET HTTP/1.1")
    func headers() {
        var configuration = PhoenixClient.Configuration(host: "example.com", port: 4000, params: ["token": "t"], authToken: "foobar")
        configuration.headers.add(name: "Origin", value: "https://example.com")
        let request = HandshakeRequest(configuration: configuration)
        let head = request.head
        #expect(head.method == .GET)
        #expect(head.version == .http1_1)
        #expect(head.uri == "/socket/websocket?token=t&vsn=2.0.0")
        #expect(head.headers["Host"] == ["example.com:4000"])
        #expect(head.headers["Origin"] == ["https://example.com"])
        #expect(head.headers["Sec-WebSocket-Protocol"] == ["phoenix, base64url.bearer.phx.Zm9vYmFy"])
    }

    @Test("no auth token: no Sec-WebSocket-Protocol; V1 sends vsn 1.0.0")
    func noToken() {
        let request = HandshakeRequest(configuration: PhoenixClient.Configuration(host: "127.0.0.1", port: 80, vsn: .v1))
        #expect(request.headers["Sec-WebSocket-Protocol"].isEmpty)
        #expect(request.uri == "/socket/websocket?vsn=1.0.0")
    }

    @Test("an IPv6 host is bracketed in Host")
    func ipv6Host() {
        #expect(HandshakeRequest.hostHeader(host: "::1", port: 4000) == "[::1]:4000")
        #expect(HandshakeRequest.hostHeader(host: "[::1]", port: 4000) == "[::1]:4000")
        #expect(HandshakeRequest.hostHeader(host: "localhost", port: 80) == "localhost:80")
    }
}
