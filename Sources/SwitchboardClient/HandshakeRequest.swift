import NIOCore
import NIOHTTP1

/// The HTTP/1.1 upgrade request a client sends: request target with the
/// connect params and `vsn` in the query, `Host`, the configured extra headers
/// and, with an auth token, phoenix.js's `Sec-WebSocket-Protocol` entry.
///
/// The WebSocket headers proper (`Upgrade`, `Connection`, `Sec-WebSocket-Key`,
/// `Sec-WebSocket-Version`) are added by the NIO upgrader.
struct HandshakeRequest {
    /// The request target: `path?key=value&…&vsn=2.0.0`.
    var uri: String
    var headers: HTTPHeaders

    init(configuration: PhoenixClient.Configuration) {
        self.uri = Self.requestTarget(path: configuration.path, params: configuration.params, vsn: configuration.vsn.rawValue)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: Self.hostHeader(host: configuration.host, port: configuration.port))
        for (name, value) in configuration.headers {
            headers.add(name: name, value: value)
        }
        if let token = configuration.authToken {
            headers.add(name: "Sec-WebSocket-Protocol", value: Self.subprotocols(authToken: token))
        }
        self.headers = headers
    }

    var head: HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .GET, uri: self.uri, headers: self.headers)
    }

    /// `path` with `params` (sorted by key, percent-encoded) and `vsn` appended
    /// as the query. A `vsn` key in `params` replaces the configured version
    /// (for tests that send an unknown one).
    static func requestTarget(path: String, params: [String: String], vsn: String) -> String {
        var target = path.hasPrefix("/") ? path : "/" + path
        var pairs = params.sorted { $0.key < $1.key }
        if !pairs.contains(where: { $0.key == "vsn" }) {
            pairs.append((key: "vsn", value: vsn))
        }
        var separator: Character = target.contains("?") ? "&" : "?"
        for (key, value) in pairs {
            target.append(separator)
            target += Self.percentEncode(key)
            target.append("=")
            target += Self.percentEncode(value)
            separator = "&"
        }
        return target
    }

    /// Percent-encodes every byte of the UTF-8 form of `string` except the
    /// RFC 3986 unreserved characters (`A–Z a–z 0–9 - . _ ~`); hex digits are
    /// upper case.
    static func percentEncode(_ string: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.append(byte)
            default:
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The `Sec-WebSocket-Protocol` value phoenix.js sends with an `authToken`:
    /// `phoenix, base64url.bearer.phx.<base64url of the token, no padding>`.
    static func subprotocols(authToken: String) -> String {
        "phoenix, base64url.bearer.phx." + Base64.encodeURL(authToken)
    }

    /// `host:port`, with an IPv6 literal in brackets.
    static func hostHeader(host: String, port: Int) -> String {
        if host.contains(":") && !host.hasPrefix("[") {
            return "[\(host)]:\(port)"
        }
        return "\(host):\(port)"
    }
}
