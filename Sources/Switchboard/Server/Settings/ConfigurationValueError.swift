/// A configuration value that cannot be used, as a type that reads itself
/// from a `ConfigReader` reports it (``ServerConfiguration/init(reader:)``,
/// the Redis adapter's configuration): its key (relative to the reader),
/// the value as written (secrets hidden) and what is wrong.
public struct ConfigurationValueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key, relative to the reader (`limits.max_frame_size`).
    public var key: String
    /// The value as written; `<redacted>` for a secret, a URL with its password hidden.
    public var value: String
    /// What is wrong, or what is expected.
    public var problem: String

    /// An error for `key`, set to `value`.
    public init(key: String, value: String, problem: String) {
        self.key = key
        self.value = value
        self.problem = problem
    }

    public var description: String {
        "invalid value \"\(value)\" for \(key): \(problem)"
    }
}
