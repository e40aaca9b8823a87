import FoundationEssentials
import JWTKit

/// Checks socket tokens (Phoenix.Token semantics on JWTs): the signature with
/// the one configured key and algorithm, `aud` against the namespace, `exp`,
/// `nbf`, and `iat` against a server-side `max_age` whatever `exp` says, all
/// with a small clock skew allowance.
///
/// ```swift
/// let verifier = await TokenVerifier(secretKeyBase: secret, namespace: "user_socket")
/// switch await verifier.verify(token) {
/// case .valid(let claims): print(claims.subject)
/// case .rejected(let reason): print(reason)   // never print the token
/// }
/// ```
public struct TokenVerifier: Sendable {
    /// Longest token looked at, in bytes; longer ones are `invalid` unparsed.
    public static let maxTokenLength = 4096

    /// The only algorithm accepted.
    public let algorithm: TokenAlgorithm
    /// The `aud` a token must name.
    public let namespace: String
    /// The oldest `iat` accepted, whatever `exp` says.
    public let maxAge: Duration
    /// Tolerance for clocks that disagree, applied to `iat`, `nbf`, `exp` and `max_age`.
    public let clockSkew: Duration
    private let keys: JWTKeyCollection

    /// An HS256 verifier with the node's secret.
    public init(secretKeyBase: SecretKeyBase, namespace: String, maxAge: Duration = .seconds(86_400), clockSkew: Duration = .seconds(30)) async {
        self.keys = await TokenKeys.hmac(secretKeyBase)
        self.algorithm = .hs256
        self.namespace = namespace
        self.maxAge = maxAge
        self.clockSkew = clockSkew
    }

    /// An RS256 or ES256 verifier from a PEM public key or certificate (RSA or P-256).
    public init(publicKeyPEM: String, namespace: String, maxAge: Duration = .seconds(86_400), clockSkew: Duration = .seconds(30)) async throws(TokenKeyError) {
        (self.keys, self.algorithm) = try await TokenKeys.publicKey(pem: publicKeyPEM)
        self.namespace = namespace
        self.maxAge = maxAge
        self.clockSkew = clockSkew
    }

    /// Verifies `token` as of `now`. Checks, in order: present (`missing`),
    /// well-formed with the right algorithm and signature and the required
    /// claims (`invalid`), `aud` (`wrong_namespace`), `iat` and `nbf` not in
    /// the future (`not_yet_valid`), `exp` and `max_age` (`expired`).
    public func verify(_ token: String?, now: Date = Date()) async -> TokenVerification {
        guard let token, !token.isEmpty else { return .rejected(.missing) }
        guard token.utf8.count <= Self.maxTokenLength, headerAlgorithm(of: token) == algorithm.rawValue else {
            return .rejected(.invalid)
        }
        let payload: TokenPayload
        do {
            payload = try await keys.verify(token, as: TokenPayload.self)
        } catch {
            return .rejected(.invalid)
        }
        guard payload.aud.contains(namespace) else { return .rejected(.wrongNamespace) }
        let now = now.timeIntervalSince1970
        let skew = clockSkew.inSeconds
        if payload.iat > now + skew || (payload.nbf.map { $0 > now + skew } ?? false) {
            return .rejected(.notYetValid)
        }
        if let exp = payload.exp, exp <= now - skew {
            return .rejected(.expired)
        }
        if payload.iat + maxAge.inSeconds <= now - skew {
            return .rejected(.expired)
        }
        return .valid(payload.claims)
    }

    /// The `alg` of a compact JWS header, `nil` unless the token is three
    /// base64url segments, the header a JSON object with a string `alg`, no
    /// `crit`, and a `typ` (if any) of `JWT`.
    private func headerAlgorithm(of token: String) -> String? {
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3, segments.allSatisfy({ $0.allSatisfy(Self.isBase64URL) }),
              let header = Self.base64URLDecode(segments[0]),
              let json = try? JSONValue(parsing: header, maxDepth: 4),
              json.objectValue?["crit"] == nil
        else { return nil }
        if let typ = json["typ"], typ.stringValue?.uppercased() != "JWT" { return nil }
        return json["alg"]?.stringValue
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    private static func base64URLDecode(_ segment: Substring.UTF8View.SubSequence) -> String? {
        var base64 = String(decoding: segment.map { $0 == UInt8(ascii: "-") ? UInt8(ascii: "+") : $0 == UInt8(ascii: "_") ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(validating: data, as: UTF8.self)
    }
}
