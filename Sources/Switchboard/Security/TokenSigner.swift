import FoundationEssentials
import JWTKit

/// Mints socket tokens: JWTs with `sub`, `aud` (the namespace), `iat` and
/// `exp`, signed HS256 with the node's ``SecretKeyBase`` or RS256 / ES256 with
/// a backend's private key. ``TokenVerifier`` is the other half.
///
/// ```swift
/// let signer = await TokenSigner(secretKeyBase: try SecretKeyBase(secret))
/// let token = try await signer.sign(subject: "42", namespace: "user_socket", ttl: .seconds(600))
/// ```
public struct TokenSigner: Sendable {
    /// The algorithm tokens are signed with.
    public let algorithm: TokenAlgorithm
    private let keys: JWTKeyCollection

    /// An HS256 signer.
    public init(secretKeyBase: SecretKeyBase) async {
        keys = await TokenKeys.hmac(secretKeyBase)
        algorithm = .hs256
    }

    /// An RS256 or ES256 signer, from a PEM RSA or P-256 private key.
    public init(privateKeyPEM: String) async throws(TokenKeyError) {
        (keys, algorithm) = try await TokenKeys.privateKey(pem: privateKeyPEM)
    }

    /// A signed token for `subject`, valid in `namespace` from `now` for `ttl`.
    ///
    /// - Throws: ``InvalidClaim`` for an empty or over-long subject or
    ///   namespace, or a `ttl` that is not between one second and ten years.
    public func sign(subject: String, namespace: String, ttl: Duration = .seconds(600), now: Date = Date()) async throws -> String {
        guard !subject.isEmpty, subject.utf8.count <= TokenPayload.maxSubjectLength,
              subject.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else {
            throw InvalidClaim("the subject must be 1 to \(TokenPayload.maxSubjectLength) printable bytes")
        }
        guard !namespace.isEmpty, namespace.utf8.count <= 255 else {
            throw InvalidClaim("the namespace must be 1 to 255 bytes")
        }
        guard ttl >= .seconds(1), ttl <= .seconds(10 * 366 * 86_400) else {
            throw InvalidClaim("the time to live must be between 1s and ten years")
        }
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        let payload = TokenPayload(sub: subject, aud: [namespace], iat: issuedAt, exp: issuedAt + Double(ttl.components.seconds))
        return try await keys.sign(payload)
    }

    /// A claim that ``sign(subject:namespace:ttl:now:)`` will not put in a token.
    public struct InvalidClaim: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
