/// The outcome of ``TokenVerifier/verify(_:now:)``.
public enum TokenVerification: Sendable, Hashable {
    /// The token is genuine, current and for this namespace.
    case valid(TokenClaims)
    /// The token was refused, and why.
    case rejected(TokenRejection)

    /// The claims of a valid token, `nil` otherwise.
    public var claims: TokenClaims? {
        if case .valid(let claims) = self { return claims }
        return nil
    }
}
