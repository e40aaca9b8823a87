import Foundation
import Testing
@testable import SwitchboardTesting

@testable import Switchboard

/// Signing and verifying socket tokens: every way a token is refused, with
/// the reason the log would give.
struct TokenTests {
    static let secret = "a-test-secret-that-is-long-enough-0123456789"
    static let otherSecret = "another-secret-that-is-also-long-enough-9876"
    static let namespace = "user_socket"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func verifier(maxAge: Duration = .seconds(3600), clockSkew: Duration = .seconds(30)) async -> TokenVerifier {
        await TokenVerifier(secretKeyBase: try! SecretKeyBase(secret), namespace: namespace, maxAge: maxAge, clockSkew: clockSkew)
    }

    static func signed(_ subject: String = "42", namespace: String = namespace, ttl: Duration = .seconds(600), at time: Date = now, secret: String = secret) async throws -> String {
        try await TokenSigner(secretKeyBase: SecretKeyBase(secret)).sign(subject: subject, namespace: namespace, ttl: ttl, now: time)
    }

    /// An HS256 token with these claims, signed outside the code under test.
    static func crafted(_ claims: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#) throws -> String {
        try CraftedToken.hs256(header: header, payload: claims, secret: secret)
    }

    static var iat: Int { Int(now.timeIntervalSince1970) }

    @Test func aSignedTokenVerifies() async throws {
        let token = try await Self.signed("42")
        let result = await Self.verifier().verify(token, now: Self.now)
        #expect(result == .valid(TokenClaims(
            subject: "42", audience: ["user_socket"], issuedAt: Self.now, expiresAt: Self.now + 600
        )))
        #expect(token.split(separator: ".").count == 3)
    }

    @Test func aCraftedTokenWithTheSameSecretVerifies() async throws {
        // The signature check is jwt-kit's; this token's HMAC comes from openssl.
        let token = try Self.crafted(#"{"sub":"7","aud":"user_socket","iat":\#(Self.iat),"exp":\#(Self.iat + 60)}"#)
        #expect(await Self.verifier().verify(token, now: Self.now).claims?.subject == "7")
    }

    @Test func numericSubjectsAudienceListsAndNoExpiryAreAccepted() async throws {
        let token = try Self.crafted(#"{"sub":42,"aud":["other","user_socket"],"iat":\#(Self.iat)}"#)
        let claims = try #require(await Self.verifier().verify(token, now: Self.now).claims)
        #expect(claims.subject == "42")
        #expect(claims.expiresAt == nil)
    }

    @Test(arguments: [nil, ""] as [String?])
    func noTokenIsMissing(token: String?) async throws {
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.missing))
    }

    @Test func wronglySignedIsInvalid() async throws {
        let token = try await Self.signed(secret: Self.otherSecret)
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.invalid))
    }

    @Test func aTamperedPayloadIsInvalid() async throws {
        let token = try await Self.signed("42")
        let parts = token.split(separator: ".").map(String.init)
        let forged = CraftedToken.base64URL(#"{"sub":"1","aud":"user_socket","iat":\#(Self.iat),"exp":\#(Self.iat + 600)}"#)
        #expect(await Self.verifier().verify([parts[0], forged, parts[2]].joined(separator: "."), now: Self.now) == .rejected(.invalid))
    }

    @Test(arguments: [
        "garbage",
        "a.b",
        "a.b.c.d",
        "...",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.!!!",
        String(repeating: "A", count: 5000),
        "eyJhbGciOiJIUzI1NiJ9..",
    ])
    func malformedIsInvalid(token: String) async throws {
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.invalid))
    }

    @Test(arguments: [
        // alg none, with and without a signature
        #"{"alg":"none","typ":"JWT"}"#,
        #"{"alg":"None"}"#,
        // another algorithm than the verifier's, signed with the same secret
        #"{"alg":"HS512","typ":"JWT"}"#,
        // RS256 header on an HMAC token: the classic key-confusion attack
        #"{"alg":"RS256","typ":"JWT"}"#,
        // critical extensions are not understood
        #"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        // not a JWT
        #"{"alg":"HS256","typ":"JOSE+JSON"}"#,
        // no alg at all
        #"{"typ":"JWT"}"#,
        // not an object
        #"["HS256"]"#,
    ])
    func unexpectedHeadersAreInvalid(header: String) async throws {
        let claims = #"{"sub":"42","aud":"user_socket","iat":\#(Self.iat)}"#
        let signed = try Self.crafted(claims, header: header)
        #expect(await Self.verifier().verify(signed, now: Self.now) == .rejected(.invalid))
        let unsigned = CraftedToken.unsigned(header: header, payload: claims)
        #expect(await Self.verifier().verify(unsigned, now: Self.now) == .rejected(.invalid))
    }

    @Test(arguments: [
        #"{"aud":"user_socket","iat":IAT}"#,                          // no sub
        #"{"sub":"","aud":"user_socket","iat":IAT}"#,                 // empty sub
        #"{"sub":"\#(String(repeating: "x", count: 201))","aud":"user_socket","iat":IAT}"#,
        #"{"sub":"a\u0000b","aud":"user_socket","iat":IAT}"#,         // control character
        #"{"sub":4.5,"aud":"user_socket","iat":IAT}"#,
        #"{"sub":{"id":1},"aud":"user_socket","iat":IAT}"#,
        #"{"sub":"42","iat":IAT}"#,                                    // no aud
        #"{"sub":"42","aud":7,"iat":IAT}"#,
        #"{"sub":"42","aud":"user_socket"}"#,                          // no iat
        #"{"sub":"42","aud":"user_socket","iat":"yesterday"}"#,
        #"{"sub":"42","aud":"user_socket","iat":IAT,"exp":"never"}"#,
        #"{"sub":"42","aud":"user_socket","iat":1e999}"#,
        "not json",
        "[]",
    ])
    func badClaimsAreInvalid(claims: String) async throws {
        let token = try Self.crafted(claims.replacingOccurrences(of: "IAT", with: "\(Self.iat)"))
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.invalid))
    }

    @Test func anotherNamespaceIsRefused() async throws {
        let token = try await Self.signed(namespace: "admin_socket")
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.wrongNamespace))
        let crafted = try Self.crafted(#"{"sub":"42","aud":["a","b"],"iat":\#(Self.iat)}"#)
        #expect(await Self.verifier().verify(crafted, now: Self.now) == .rejected(.wrongNamespace))
    }

    @Test func pastItsExpiryIsExpired() async throws {
        let token = try await Self.signed(ttl: .seconds(60), at: Self.now - 200)
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.expired))
    }

    @Test func olderThanMaxAgeIsExpiredWhateverExpSays() async throws {
        // Valid for a day by its own exp, but the server's max_age is one hour.
        let token = try await Self.signed(ttl: .seconds(86_400), at: Self.now - 3_700)
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.expired))
        #expect(await Self.verifier(maxAge: .seconds(7200)).verify(token, now: Self.now).claims != nil)
    }

    @Test func issuedInTheFutureIsNotYetValid() async throws {
        let token = try await Self.signed(at: Self.now + 120)
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.notYetValid))
    }

    @Test func aFutureNotBeforeIsNotYetValid() async throws {
        let token = try Self.crafted(#"{"sub":"42","aud":"user_socket","iat":\#(Self.iat),"nbf":\#(Self.iat + 120)}"#)
        #expect(await Self.verifier().verify(token, now: Self.now) == .rejected(.notYetValid))
    }

    @Test func theClockSkewAllowanceAppliesBothWays() async throws {
        // Issued 20 s "in the future" and expired 20 s ago: within a 30 s skew…
        let early = try await Self.signed(at: Self.now + 20)
        let late = try await Self.signed(ttl: .seconds(60), at: Self.now - 80)
        let tolerant = await Self.verifier(clockSkew: .seconds(30))
        #expect(await tolerant.verify(early, now: Self.now).claims != nil)
        #expect(await tolerant.verify(late, now: Self.now).claims != nil)
        // …but not within a 5 s one.
        let strict = await Self.verifier(clockSkew: .seconds(5))
        #expect(await strict.verify(early, now: Self.now) == .rejected(.notYetValid))
        #expect(await strict.verify(late, now: Self.now) == .rejected(.expired))
    }

    @Test func shortSecretsAreRefused() {
        #expect(throws: TokenKeyError.secretTooShort(length: 31)) { try SecretKeyBase(String(repeating: "k", count: 31)) }
        #expect((try? SecretKeyBase(String(repeating: "k", count: 32))) != nil)
    }

    @Test func secretsAreNeverPrinted() throws {
        let secret = try SecretKeyBase(Self.secret)
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\(TokenKeyError.secretTooShort(length: 3))".contains(Self.secret))
    }

    @Test func signingRefusesUnusableClaims() async throws {
        let signer = await TokenSigner(secretKeyBase: try SecretKeyBase(Self.secret))
        await #expect(throws: TokenSigner.InvalidClaim.self) { try await signer.sign(subject: "", namespace: "n") }
        await #expect(throws: TokenSigner.InvalidClaim.self) { try await signer.sign(subject: "1", namespace: "") }
        await #expect(throws: TokenSigner.InvalidClaim.self) { try await signer.sign(subject: "1", namespace: "n", ttl: .zero) }
        await #expect(throws: TokenSigner.InvalidClaim.self) { try await signer.sign(subject: "a\nb", namespace: "n") }
    }

    // MARK: - RS256 and ES256

    @Test(arguments: [
        (TestKeys.rsaPrivate, TestKeys.rsaPublic, TokenAlgorithm.rs256),
        (TestKeys.ecPrivate, TestKeys.ecPublic, TokenAlgorithm.es256),
    ])
    func publicKeyVerification(privateKey: String, publicKey: String, algorithm: TokenAlgorithm) async throws {
        let signer = try await TokenSigner(privateKeyPEM: privateKey)
        #expect(signer.algorithm == algorithm)
        let verifier = try await TokenVerifier(publicKeyPEM: publicKey, namespace: Self.namespace)
        #expect(verifier.algorithm == algorithm)
        let token = try await signer.sign(subject: "9", namespace: Self.namespace, now: Self.now)
        #expect(await verifier.verify(token, now: Self.now).claims?.subject == "9")
        #expect(await verifier.verify(token, now: Self.now + 3_600) == .rejected(.expired))
        let elsewhere = try await signer.sign(subject: "9", namespace: "other", now: Self.now)
        #expect(await verifier.verify(elsewhere, now: Self.now) == .rejected(.wrongNamespace))
    }

    @Test func publicKeyVerifiersRefuseOtherKeysAndAlgorithms() async throws {
        let rsaVerifier = try await TokenVerifier(publicKeyPEM: TestKeys.rsaPublic, namespace: Self.namespace)
        let ecVerifier = try await TokenVerifier(publicKeyPEM: TestKeys.ecPublic, namespace: Self.namespace)
        let otherRSA = try await TokenSigner(privateKeyPEM: TestKeys.otherRSAPrivate)
            .sign(subject: "1", namespace: Self.namespace, now: Self.now)
        let otherEC = try await TokenSigner(privateKeyPEM: TestKeys.otherECPrivate)
            .sign(subject: "1", namespace: Self.namespace, now: Self.now)
        let hmac = try await Self.signed()
        #expect(await rsaVerifier.verify(otherRSA, now: Self.now) == .rejected(.invalid))
        #expect(await ecVerifier.verify(otherEC, now: Self.now) == .rejected(.invalid))
        #expect(await rsaVerifier.verify(otherEC, now: Self.now) == .rejected(.invalid))
        #expect(await ecVerifier.verify(otherRSA, now: Self.now) == .rejected(.invalid))
        // An HS256 token whose "secret" is the public key text: refused, the algorithm is fixed.
        let confused = try CraftedToken.hs256(payload: #"{"sub":"1","aud":"user_socket","iat":\#(Self.iat)}"#, secret: TestKeys.rsaPublic)
        #expect(await rsaVerifier.verify(confused, now: Self.now) == .rejected(.invalid))
        #expect(await rsaVerifier.verify(hmac, now: Self.now) == .rejected(.invalid))
    }

    @Test(arguments: ["", "not a key", TestKeys.rsaPrivate.replacingOccurrences(of: "PRIVATE", with: "PUBLIC")])
    func unusableKeysAreRefused(pem: String) async {
        await #expect(throws: TokenKeyError.self) { try await TokenVerifier(publicKeyPEM: pem, namespace: "n") }
        await #expect(throws: TokenKeyError.self) { try await TokenSigner(privateKeyPEM: pem) }
    }
}
