import FoundationEssentials

/// What a verified socket token says.
public struct TokenClaims: Sendable, Hashable {
    /// `sub`: the user id (a JSON number in the token is read in decimal).
    public var subject: String
    /// `aud`: the namespaces the token was minted for.
    public var audience: [String]
    /// `iat`: when it was issued.
    public var issuedAt: Date
    /// `exp`: when it expires, if it says; `max_age` bounds it anyway.
    public var expiresAt: Date?
    /// `nbf`: not valid before, if it says.
    public var notBefore: Date?

    public init(subject: String, audience: [String], issuedAt: Date, expiresAt: Date?, notBefore: Date? = nil) {
        self.subject = subject
        self.audience = audience
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
    }
}
