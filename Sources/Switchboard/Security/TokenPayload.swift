import FoundationEssentials
import JWTKit

/// The JSON payload of a socket token: `sub`, `aud`, `iat`, optional `exp`
/// and `nbf`. Decoding is strict about types and sizes; time checks are the
/// verifier's (with its clock skew and `max_age`), so ``verify(using:)`` does nothing.
struct TokenPayload: JWTPayload, Equatable {
    /// Longest `sub` accepted, in UTF-8 bytes: it must fit in a `user:<sub>` topic.
    static let maxSubjectLength = 200
    /// Most `aud` entries accepted.
    static let maxAudienceCount = 16

    var sub: String
    var aud: [String]
    /// Seconds since 1970.
    var iat: Double
    var exp: Double?
    var nbf: Double?

    private enum CodingKeys: String, CodingKey {
        case sub, aud, iat, exp, nbf
    }

    init(sub: String, aud: [String], iat: Double, exp: Double?, nbf: Double? = nil) {
        self.sub = sub
        self.aud = aud
        self.iat = iat
        self.exp = exp
        self.nbf = nbf
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let string = try? container.decode(String.self, forKey: .sub) {
            sub = string
        } else {
            sub = String(try container.decode(Int64.self, forKey: .sub))
        }
        guard !sub.isEmpty, sub.utf8.count <= Self.maxSubjectLength,
              sub.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else {
            throw DecodingError.dataCorruptedError(forKey: .sub, in: container, debugDescription: "sub must be 1 to \(Self.maxSubjectLength) printable bytes")
        }
        if let single = try? container.decode(String.self, forKey: .aud) {
            aud = [single]
        } else {
            aud = try container.decode([String].self, forKey: .aud)
        }
        guard aud.count <= Self.maxAudienceCount else {
            throw DecodingError.dataCorruptedError(forKey: .aud, in: container, debugDescription: "too many audiences")
        }
        iat = try Self.time(container, .iat)
        exp = try container.contains(.exp) ? Self.time(container, .exp) : nil
        nbf = try container.contains(.nbf) ? Self.time(container, .nbf) : nil
    }

    /// A finite number of seconds since 1970.
    private static func time(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Double {
        let value = try container.decode(Double.self, forKey: key)
        guard value.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a finite time")
        }
        return value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sub, forKey: .sub)
        if aud.count == 1 {
            try container.encode(aud[0], forKey: .aud)
        } else {
            try container.encode(aud, forKey: .aud)
        }
        try container.encode(Int64(iat), forKey: .iat)
        try container.encodeIfPresent(exp.map(Int64.init), forKey: .exp)
        try container.encodeIfPresent(nbf.map(Int64.init), forKey: .nbf)
    }

    /// Claims are checked by ``TokenVerifier`` against its own clock, skew and `max_age`.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    var claims: TokenClaims {
        TokenClaims(
            subject: sub,
            audience: aud,
            issuedAt: Date(timeIntervalSince1970: iat),
            expiresAt: exp.map(Date.init(timeIntervalSince1970:)),
            notBefore: nbf.map(Date.init(timeIntervalSince1970:))
        )
    }
}
