import Switchboard
/// A setting of `switchboard serve` that cannot be used, with the key, where
/// it was set and what is wrong, in one line:
/// `invalid value "-1" for port (from --port): expected a whole number from 0 to 65535`.
public struct ServeSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending key.
    public var key: ServeSettingKey
    /// Where it was set (``ServeSettingOrigin/name(of:)``).
    public var origin: String
    /// The value as written; `nil` when the source could not give one.
    public var value: String?
    /// What is wrong, or what is expected.
    public var problem: String

    /// An error for `key`, set at `origin` to `value`.
    public init(key: ServeSettingKey, origin: String, value: String?, problem: String) {
        self.key = key
        self.origin = origin
        self.value = value
        self.problem = problem
    }

    /// The one line that `serve` prints.
    public var description: String {
        if let value {
            return "invalid value \"\(value)\" for \(key) (from \(origin)): \(problem)"
        }
        return "cannot read \(key) (from \(origin)): \(problem)"
    }
}
