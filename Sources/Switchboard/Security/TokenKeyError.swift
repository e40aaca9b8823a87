/// Key material that cannot sign or verify socket tokens. The messages name
/// the problem, never the key.
public enum TokenKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `secret_key_base` is shorter than ``SecretKeyBase/minimumLength`` bytes.
    case secretTooShort(length: Int)
    /// The PEM text is neither an RSA (RS256) nor a P-256 (ES256) key of the expected kind.
    case unsupportedKey(expected: String)

    public var description: String {
        switch self {
        case .secretTooShort(let length):
            return "secret_key_base must be at least \(SecretKeyBase.minimumLength) bytes long (got \(length)); generate one with `openssl rand -base64 48`"
        case .unsupportedKey(let expected):
            return "expected a PEM \(expected) for RS256 (RSA, 2048 bits or more) or ES256 (P-256)"
        }
    }
}
