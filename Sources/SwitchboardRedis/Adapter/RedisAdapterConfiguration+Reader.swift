import Configuration
import FoundationEssentials
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
    /// | `outage_buffer` | 0 (messages, over all of the node's connections) |
    /// | `outage_buffer_bytes` | 64MiB (bytes, or a number with `KiB`, `MiB`, `GiB`) |
    /// | `role_check_interval` | 5s (behind Sentinel; 0 turns it off) |
    /// | `username`, `password` | the URL's (a secret: never shown) |
    /// | `password_file` | a file whose text (without its final newline) is the password |
    /// | `tls.ca_file` | the system's trust store |
    /// | `tls.certificate_file`, `tls.key_file` | none (mutual TLS when both are set) |
    /// | `tls.server_name` | the URL's host |
    /// | `tls.insecure` | `false` (`true`: no certificate checks, for tests only) |
    /// | `sentinel.username`, `sentinel.password` | none: the sentinels' own credentials, for a `redis+sentinel://` URL (a secret: never shown) |
    /// | `sentinel.password_file` | a file whose text is the sentinels' password |
    ///
    /// The password comes from the URL or from `password` / `password_file`,
    /// one of them. The password file is read once, here.
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
        try readCredentials(reader)
        try readTLS(reader.scoped(to: "tls"))
        try readSentinelCredentials(reader.scoped(to: "sentinel"))
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
        if let size = try Self.byteSize(reader, "outage_buffer_bytes") {
            guard size > 0 else {
                throw RedisAdapterConfigurationError(key: "outage_buffer_bytes", value: "\(size)", problem: "expected a size above zero")
            }
            outageBufferBytes = size
        }
        if let interval = try Self.duration(reader, "role_check_interval") {
            guard interval >= .zero else {
                throw RedisAdapterConfigurationError(key: "role_check_interval", value: "\(interval)", problem: "expected a duration of zero (off) or more")
            }
            roleCheckInterval = interval
        }
        if let timeout = try Self.duration(reader, "connect_timeout") {
            guard timeout > .zero else {
                throw RedisAdapterConfigurationError(key: "connect_timeout", value: "\(timeout)", problem: "expected a duration above zero")
            }
            connectTimeout = timeout
        }
    }

    /// `sentinel.username`, `sentinel.password` and `sentinel.password_file`, relative to `reader`.
    private mutating func readSentinelCredentials(_ reader: ConfigReader) throws(RedisAdapterConfigurationError) {
        var password = Self.text(reader, "password", isSecret: true)
        if let path = Self.text(reader, "password_file") {
            guard password == nil else {
                throw RedisAdapterConfigurationError(key: "sentinel.password_file", value: path, problem: "sentinel.password is set too; set one of them")
            }
            password = try Self.secret(fromFile: path, key: "sentinel.password_file")
        }
        let username = Self.text(reader, "username")
        if password != nil || username != nil, url.sentinel == nil {
            throw RedisAdapterConfigurationError(
                key: password != nil ? "sentinel.password" : "sentinel.username", value: password != nil ? "<redacted>" : username ?? "",
                problem: "the URL \(url) is not a Sentinel URL; use redis+sentinel://host1:26379,host2:26379/mastername"
            )
        }
        if let username, password == nil {
            throw RedisAdapterConfigurationError(key: "sentinel.username", value: username, problem: "a user needs a password (sentinel.password or sentinel.password_file)")
        }
        sentinelUsername = username
        sentinelPassword = password
    }

    /// `username`, `password` and `password_file`, into ``url``.
    private mutating func readCredentials(_ reader: ConfigReader) throws(RedisAdapterConfigurationError) {
        let username = Self.text(reader, "username")
        var password = Self.text(reader, "password", isSecret: true)
        if let path = Self.text(reader, "password_file") {
            guard password == nil else {
                throw RedisAdapterConfigurationError(key: "password_file", value: path, problem: "password is set too; set one of them")
            }
            password = try Self.secret(fromFile: path, key: "password_file")
        }
        if let password {
            guard url.password == nil else {
                throw RedisAdapterConfigurationError(
                    key: "password", value: "<redacted>", problem: "the URL \(url) has a password already; set it in one place"
                )
            }
            url.password = password
        }
        if let username {
            guard url.password != nil else {
                throw RedisAdapterConfigurationError(key: "username", value: username, problem: "a user needs a password (password or password_file)")
            }
            guard url.username == nil else {
                throw RedisAdapterConfigurationError(key: "username", value: username, problem: "the URL \(url) names a user already; set it in one place")
            }
            url.username = username
        }
    }

    /// The `tls.*` keys, relative to `reader`.
    private mutating func readTLS(_ reader: ConfigReader) throws(RedisAdapterConfigurationError) {
        tls.caFile = Self.text(reader, "ca_file")
        tls.certificateFile = Self.text(reader, "certificate_file")
        tls.keyFile = Self.text(reader, "key_file")
        tls.serverName = Self.text(reader, "server_name")
        if let insecure = reader.bool(forKey: "insecure") {
            tls.insecureSkipVerification = insecure
        } else if let text = Self.text(reader, "insecure") {
            switch text.lowercased() {
            case "true", "yes", "on", "1": tls.insecureSkipVerification = true
            case "false", "no", "off", "0": tls.insecureSkipVerification = false
            default: throw RedisAdapterConfigurationError(key: "tls.insecure", value: text, problem: "expected true or false")
            }
        }
    }

    /// The text of the file at `path` without its final line break: a
    /// secret kept in a file (a mounted Kubernetes or Docker secret).
    private static func secret(fromFile path: String, key: String) throws(RedisAdapterConfigurationError) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let data = FileManager.default.contents(atPath: path), data.count <= 64 << 10,
              let text = String(validating: data, as: UTF8.self)
        else {
            throw RedisAdapterConfigurationError(key: key, value: path, problem: "cannot read it: expected a readable UTF-8 file of at most 64 KiB")
        }
        var secret = Substring(text)
        while let last = secret.last, last == "\n" || last == "\r\n" || last == "\r" {
            secret = secret.dropLast()
        }
        guard !secret.isEmpty else {
            throw RedisAdapterConfigurationError(key: key, value: path, problem: "the file is empty")
        }
        return String(secret)
    }

    /// The value of `key` as text without surrounding spaces; `nil` when
    /// unset, blank or a YAML null (`~`, `null`).
    private static func text(_ reader: ConfigReader, _ key: ConfigKey, isSecret: Bool = false) -> String? {
        guard let value = reader.string(forKey: key, isSecret: isSecret)?.trimmingWhitespace(), !value.isEmpty, !yamlNulls.contains(value) else {
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

    /// A number of bytes, read as one (`67108864`) or as text (`"64MiB"`).
    private static func byteSize(_ reader: ConfigReader, _ key: ConfigKey) throws(RedisAdapterConfigurationError) -> Int? {
        if let value = reader.int(forKey: key) { return value }
        guard let text = text(reader, key) else { return nil }
        guard let value = SettingText.byteSize(text) else {
            throw RedisAdapterConfigurationError(
                key: key.description, value: text, problem: "expected a size in bytes such as 67108864, \"64MiB\" or \"1GiB\""
            )
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
