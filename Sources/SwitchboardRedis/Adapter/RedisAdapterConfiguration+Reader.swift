import Configuration
import Switchboard

extension RedisAdapterConfiguration {
    /// Reads the configuration from `reader`, as Hummingbird's
    /// `ApplicationConfiguration(reader:)` does, so that an application can
    /// configure the adapter from its own `ConfigReader`. The keys are
    /// relative to the reader; scope it first (`reader.scoped(to:
    /// "pubsub.redis")`):
    ///
    /// | key | default |
    /// |---|---|
    /// | `url` | `redis://127.0.0.1:6379/0` |
    /// | `node_name` | `nodeName` |
    /// | `channel_prefix` | `switchboard` |
    /// | `mode` | `per_topic` (or `global`) |
    /// | `publishers` | 1 |
    /// | `connect_timeout` | 5s (seconds, or a number with `ms`, `s`, `m`, `h`) |
    /// | `outage_buffer` | 0 |
    ///
    /// Blank values and YAML nulls count as not set. The other properties
    /// keep their defaults.
    ///
    /// ```swift
    /// let configuration = try RedisAdapterConfiguration(reader: config.scoped(to: "pubsub.redis"), nodeName: "node-a")
    /// ```
    ///
    /// - Parameters:
    ///   - reader: The reader, scoped to the adapter's keys.
    ///   - nodeName: The node's name when `node_name` is not set.
    /// - Throws: the first value that is set but cannot be used.
    public init(reader: ConfigReader, nodeName: String) throws(RedisAdapterConfigurationError) {
        let urlText = Self.text(reader, "url") ?? "redis://127.0.0.1:6379/0"
        do {
            self.init(url: try RedisURL(urlText), nodeName: Self.text(reader, "node_name") ?? nodeName)
        } catch {
            throw RedisAdapterConfigurationError(key: "url", value: error.url, problem: error.problem)
        }
        if let prefix = Self.text(reader, "channel_prefix") {
            channelPrefix = prefix
        }
        if let text = Self.text(reader, "mode") {
            guard let mode = RedisMode(rawValue: text) else {
                throw RedisAdapterConfigurationError(
                    key: "mode", value: text, problem: "expected one of: \(RedisMode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            self.mode = mode
        }
        if let count = try Self.integer(reader, "publishers") {
            guard count >= 1 else {
                throw RedisAdapterConfigurationError(key: "publishers", value: "\(count)", problem: "expected at least 1")
            }
            publishers = count
        }
        if let count = try Self.integer(reader, "outage_buffer") {
            guard count >= 0 else {
                throw RedisAdapterConfigurationError(key: "outage_buffer", value: "\(count)", problem: "expected 0 or more")
            }
            outageBuffer = count
        }
        if let timeout = try Self.duration(reader, "connect_timeout") {
            guard timeout > .zero else {
                throw RedisAdapterConfigurationError(key: "connect_timeout", value: "\(timeout)", problem: "expected a duration above zero")
            }
            connectTimeout = timeout
        }
    }

    /// The value of `key` as text without surrounding spaces; `nil` when
    /// unset, blank or a YAML null (`~`, `null`).
    private static func text(_ reader: ConfigReader, _ key: ConfigKey) -> String? {
        guard let value = reader.string(forKey: key)?.trimmingWhitespace(), !value.isEmpty, !yamlNulls.contains(value) else {
            return nil
        }
        return value
    }

    /// Plain scalars that YAML reads as null, which a YAML provider hands over as text.
    private static let yamlNulls: Set<String> = ["~", "null", "Null", "NULL"]

    /// A whole number, read as one (`publishers: 4`) or as text (`"4"`).
    private static func integer(_ reader: ConfigReader, _ key: ConfigKey) throws(RedisAdapterConfigurationError) -> Int? {
        if let value = reader.int(forKey: key) { return value }
        guard let text = text(reader, key) else { return nil }
        guard let value = Int(text) else {
            throw RedisAdapterConfigurationError(key: key.description, value: text, problem: "expected a whole number")
        }
        return value
    }

    /// A duration: seconds as a number, or text such as `500ms` or `5s`.
    private static func duration(_ reader: ConfigReader, _ key: ConfigKey) throws(RedisAdapterConfigurationError) -> Duration? {
        if let seconds = reader.int(forKey: key) { return .seconds(seconds) }
        if let seconds = reader.double(forKey: key) { return .seconds(seconds) }
        guard let text = text(reader, key) else { return nil }
        guard let value = Duration(settingText: text) else {
            throw RedisAdapterConfigurationError(
                key: key.description, value: text, problem: "expected a duration such as 5 (seconds), \"5s\" or \"500ms\""
            )
        }
        return value
    }
}

/// A value of ``RedisAdapterConfiguration/init(reader:nodeName:)`` that
/// cannot be used.
public typealias RedisAdapterConfigurationError = ConfigurationValueError
