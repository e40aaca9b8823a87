/// Key material that cannot sign or verify socket tokens. The messages name
/// the problem, never the key.
/// (A struct around a private enum: a new kind of error is not a breaking change.)
public struct TokenKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case secretTooShort(length: Int)
        case unsupportedKey(expected: String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// `secret_key_base` is shorter than ``SecretKeyBase/minimumLength`` bytes.
    public static func secretTooShort(length: Int) -> TokenKeyError {
        TokenKeyError(.secretTooShort(length: length))
    }

    /// The PEM text is neither an RSA (RS256) nor a P-256 (ES256) key of the expected kind.
    public static func unsupportedKey(expected: String) -> TokenKeyError {
        TokenKeyError(.unsupportedKey(expected: expected))
    }

    public var description: String {
        switch base {
        case .secretTooShort(let length):
            return "secret_key_base must be at least \(SecretKeyBase.minimumLength) bytes long (got \(length)); generate one with `openssl rand -base64 48`"
        case .unsupportedKey(let expected):
            return "expected a PEM \(expected) for RS256 (RSA, 2048 bits or more) or ES256 (P-256)"
        }
    }
}
