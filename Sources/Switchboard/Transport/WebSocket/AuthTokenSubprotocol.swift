import FoundationEssentials

/// The `Sec-WebSocket-Protocol` convention of phoenix.js's `authToken` option:
/// `phoenix, base64url.bearer.phx.<token in base64, padding stripped>`.
enum AuthTokenSubprotocol {
    static let phoenix = "phoenix"
    private static let prefix = "base64url.bearer.phx."

    /// The protocols offered in a `Sec-WebSocket-Protocol` header value.
    static func offered(in headerValues: [String]) -> [String] {
        headerValues.flatMap { $0.split(separator: ",") }.map(trimmed)
    }

    private static func trimmed(_ value: Substring) -> String {
        var value = value
        while value.first == " " || value.first == "\t" { value.removeFirst() }
        while value.last == " " || value.last == "\t" { value.removeLast() }
        return String(value)
    }

    /// The token carried by the offered protocols, if any. Accepts the
    /// standard and URL-safe alphabets, padded or not.
    static func token(in offered: [String]) -> String? {
        guard let encoded = offered.first(where: { $0.hasPrefix(prefix) })?.dropFirst(prefix.count) else { return nil }
        var base64 = String(encoded.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(validating: data, as: UTF8.self)
    }
}
