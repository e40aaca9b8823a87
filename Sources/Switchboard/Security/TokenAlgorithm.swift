/// The JWT signature algorithms socket tokens may use. The verifier accepts
/// only the one its key is for, whatever a token's header claims.
public enum TokenAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// HMAC-SHA256 with the shared ``SecretKeyBase``: the node can sign and verify.
    case hs256 = "HS256"
    /// RSA PKCS#1 v1.5 with SHA-256: a backend signs, nodes hold only the public key.
    case rs256 = "RS256"
    /// ECDSA P-256 with SHA-256: a backend signs, nodes hold only the public key.
    case es256 = "ES256"
}
