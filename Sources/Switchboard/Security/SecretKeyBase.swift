/// The node's token secret (`secret_key_base`): at least 32 bytes, and never
/// printed — its description, debug description and reflection all read
/// `<redacted>`, so logging a value that holds one cannot leak it.
public struct SecretKeyBase: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The shortest secret accepted, in bytes.
    public static let minimumLength = 32

    /// The secret's bytes, as UTF-8 text.
    public let value: String

    /// - Throws: ``TokenKeyError/secretTooShort(length:)`` below ``minimumLength`` bytes.
    public init(_ value: String) throws(TokenKeyError) {
        guard value.utf8.count >= Self.minimumLength else {
            throw .secretTooShort(length: value.utf8.count)
        }
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    /// Constant-time comparison, so equality checks do not leak the secret either.
    public static func == (lhs: SecretKeyBase, rhs: SecretKeyBase) -> Bool {
        ConstantTime.equals(lhs.value, rhs.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(value)
    }
}
