/// Why a socket token was refused. The raw values are what the logs say.
public enum TokenRejection: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No token in the `token` param nor in the `Sec-WebSocket-Protocol` header.
    case missing
    /// Malformed, wrongly signed, signed with another algorithm, or lacking a required claim.
    case invalid
    /// Past its `exp`, or issued longer than `max_age` ago (beyond the clock skew).
    case expired
    /// Its `iat` or `nbf` lies in the future (beyond the clock skew).
    case notYetValid = "not_yet_valid"
    /// Its `aud` does not name this socket's namespace.
    case wrongNamespace = "wrong_namespace"

    public var description: String { rawValue }
}
