import JWTKit

/// Builds the jwt-kit key collections behind ``TokenSigner`` and
/// ``TokenVerifier``: one key, one algorithm.
enum TokenKeys {
    /// An HS256 collection with the secret.
    static func hmac(_ secret: SecretKeyBase) async -> JWTKeyCollection {
        await JWTKeyCollection().add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
    }

    /// A verifying collection from a PEM public key or certificate: RSA
    /// (RS256) or P-256 (ES256), whichever the text holds.
    static func publicKey(pem: String) async throws(TokenKeyError) -> (JWTKeyCollection, TokenAlgorithm) {
        if let key = (try? Insecure.RSA.PublicKey(pem: pem)) ?? (try? Insecure.RSA.PublicKey(certificatePEM: pem)) {
            return (await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256), .rs256)
        }
        if let key = (try? ES256PublicKey(pem: pem)) ?? (try? ES256PublicKey(certificate: pem)) {
            return (await JWTKeyCollection().add(ecdsa: key), .es256)
        }
        throw .unsupportedKey(expected: "public key or certificate")
    }

    /// A signing collection from a PEM private key: RSA (RS256) or P-256 (ES256).
    static func privateKey(pem: String) async throws(TokenKeyError) -> (JWTKeyCollection, TokenAlgorithm) {
        if let key = try? Insecure.RSA.PrivateKey(pem: pem) {
            return (await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256), .rs256)
        }
        if let key = try? ES256PrivateKey(pem: pem) {
            return (await JWTKeyCollection().add(ecdsa: key), .es256)
        }
        throw .unsupportedKey(expected: "private key")
    }
}
