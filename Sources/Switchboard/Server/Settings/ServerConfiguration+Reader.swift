import Configuration

extension ServerConfiguration {
    /// Reads the configuration from `reader`, as Hummingbird's
    /// `ApplicationConfiguration(reader:)` does, so that an application
    /// configures the server from its own `ConfigReader` (environment
    /// variables, a YAML or JSON file, …). The keys are relative to the
    /// reader, and named as in `switchboard serve`'s configuration file:
    ///
    /// `host`, `port`, `node_name`, `api_key`, `public_host`,
    /// `trusted_proxies`, `shutdown_grace_period`, `drain_on_shutdown`,
    /// `max_connection_age`, `max_connection_age_jitter`,
    /// `limits.max_channels_per_socket`, `limits.max_frame_size`,
    /// `limits.max_outbound_bytes`, `limits.heartbeat_timeout`,
    /// `limits.max_connections_per_address`, `limits.message_rate`,
    /// `limits.message_burst`, `admin.host`, `admin.port`, `admin.token`,
    /// `resource_guard.max_connections`, `resource_guard.max_memory`,
    /// `resource_guard.sustain`, `resource_guard.shed_rate`, `metrics.public`.
    ///
    /// Values may be written as text (`"64KiB"`, `"30s"`, `"10.0.0.0/8,
    /// 127.0.0.1"`) or as the provider's numbers, booleans and lists. Keys
    /// that are not set, blank or a YAML null keep the defaults of
    /// ``init()``; so do the properties no key sets (``pages``, the metrics'
    /// factory and renderer, ``handlerExecution``, …).
    ///
    /// ```swift
    /// let config = ConfigReader(providers: [EnvironmentVariablesProvider(), try await FileProvider<YAMLSnapshot>(filePath: "/etc/app.yaml")])
    /// let configuration = try ServerConfiguration(reader: config.scoped(to: "switchboard"))
    /// ```
    ///
    /// - Throws: the first value that is set but cannot be used, with its key.
    public init(reader: ConfigReader) throws(ConfigurationValueError) {
        var settings = ServerSettings()
        for key in ServerSettings.Key.allCases {
            guard let value = Self.settingText(reader, key) else { continue }
            do {
                try settings.apply(key, value: value)
            } catch {
                throw ConfigurationValueError(key: key.rawValue, value: key.isSecret ? "<redacted>" : value, problem: error.text)
            }
        }
        self = settings.configuration()
    }

    /// The value of `key` as text, whatever type the provider holds it as;
    /// `nil` when not set, blank or a YAML null.
    private static func settingText(_ reader: ConfigReader, _ key: ServerSettings.Key) -> String? {
        let configKey = ConfigKey(key.rawValue.split(separator: ".").map(String.init))
        let secret = key.isSecret
        var text = reader.string(forKey: configKey, isSecret: secret)
        if text == nil, key.acceptsList, let list = reader.stringArray(forKey: configKey, isSecret: secret) {
            text = list.joined(separator: ",")
        }
        if text == nil, let number = reader.int(forKey: configKey, isSecret: secret) {
            text = String(number)
        }
        if text == nil, let number = reader.double(forKey: configKey, isSecret: secret) {
            text = String(number)
        }
        if text == nil, let flag = reader.bool(forKey: configKey, isSecret: secret) {
            text = String(flag)
        }
        guard let value = text?.trimmingWhitespace(), !value.isEmpty, !["~", "null", "Null", "NULL"].contains(value) else {
            return nil
        }
        return value
    }
}
