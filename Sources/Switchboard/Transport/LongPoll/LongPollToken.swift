import Crypto
import FoundationEssentials

/// The token that names a long-poll session: which node owns it, the
/// session's id and the socket path it belongs to, signed (HMAC-SHA256) with
/// a key the owning node drew at start. It cannot be forged, edited or used
/// at another socket path; a node restarted draws a new key, so its old
/// sessions' tokens stop verifying, as the sessions are gone.
///
/// `<base64url(v1 \n node \n session \n path)>.<base64url(mac)>`: any node
/// reads the owner's name without the key (to forward the request there).
/// The owner keeps the tokens it signed and matches a request's token with
/// them as it is (``LongPollSessions``): an unforgeable match, cheaper than
/// checking the signature again.
struct LongPollToken: Sendable, Hashable {
    var node: String
    var session: String
    var path: String

    /// Longest token accepted, in bytes.
    static let maxLength = 1024

    /// The signed text of this token.
    func signed(with key: SymmetricKey) -> String {
        let body = Self.base64URL(Data(("v1\n" + node + "\n" + session + "\n" + path).utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key)
        return body + "." + Self.base64URL(Data(mac))
    }

    /// The token in `text`, unverified: good for reading its node; `nil` if
    /// it is not one.
    static func read(_ text: String) -> LongPollToken? {
        guard text.utf8.count <= maxLength else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let decoded = decodeBase64URL(parts[0]), decodeBase64URL(parts[1]) != nil,
              let fields = String(data: decoded, encoding: .utf8)?.split(separator: "\n", omittingEmptySubsequences: false),
              fields.count == 4, fields[0] == "v1"
        else { return nil }
        return LongPollToken(node: String(fields[1]), session: String(fields[2]), path: String(fields[3]))
    }

    private static func base64URL(_ data: Data) -> String {
        String(data.base64EncodedString().compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
    }

    private static func decodeBase64URL(_ text: Substring) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64)
    }
}
