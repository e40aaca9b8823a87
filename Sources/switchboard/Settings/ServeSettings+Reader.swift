import Configuration
import Switchboard

extension ServeSettings {
    /// The `ConfigReader` that `switchboard serve` reads its settings from:
    /// `flags` first, then the `SWITCHBOARD_*` variables of `environment`,
    /// then `file`; its access reporter (``ServeSettingsOriginReporter``)
    /// lets ``init(reader:)`` name where each value was set.
    ///
    /// Flags and variables are trimmed, and blank ones count as not set (a
    /// lower source, or the default, applies).
    ///
    /// ```swift
    /// let reader = ServeSettings.reader(flags: [.port: "4001"], environment: ProcessInfo.processInfo.environment)
    /// let settings = try ServeSettings(reader: reader)
    /// ```
    ///
    /// - Parameters:
    ///   - flags: The command-line flags that were given, by key.
    ///   - environment: The process environment (other variables are ignored).
    ///   - file: The configuration file's path, to name it in messages, and
    ///     its provider (a YAML `FileProvider`), keyed as ``ServeSettingKey/components``.
    public static func reader(
        flags: [ServeSettingKey: String] = [:],
        environment: [String: String] = [:],
        file: (path: String, provider: any ConfigProvider)? = nil
    ) -> ConfigReader {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in flags {
            let value = value.trimmingWhitespace()
            guard !value.isEmpty else { continue }
            values[AbsoluteConfigKey(key.components)] = ConfigValue(.string(value), isSecret: key.isSecret)
        }
        let flagsProvider = InMemoryProvider(name: "flags", values: values)
        let variables = environment.compactMapValues { value -> String? in
            let value = value.trimmingWhitespace()
            return value.isEmpty ? nil : value
        }
        let secretVariables = Set(ServeSettingKey.allCases.filter(\.isSecret).map(\.environmentVariable))
        let environmentProvider = EnvironmentVariablesProvider(environmentVariables: variables, secretsSpecifier: .specific(secretVariables))
            .prefixKeys(with: ConfigKey(ServeSettingKey.environmentPrefix.lowercased()))
        var providers: [any ConfigProvider] = [flagsProvider, environmentProvider]
        var origins: [String: ServeSettingOrigin] = [
            flagsProvider.providerName: .flags,
            environmentProvider.providerName: .environment,
        ]
        if let file {
            providers.append(file.provider)
            origins[file.provider.providerName] = .file(path: file.path)
        }
        return ConfigReader(providers: providers, accessReporter: ServeSettingsOriginReporter(origins: origins))
    }

    /// The value of `key` as text, with where it was set; `nil`
    /// when no provider sets it, or sets it blank (or, in the file, to a
    /// YAML null).
    ///
    /// Values are read as strings, so that every syntax the settings accept
    /// (`+4000`, `64KiB`, `90 s`) stays accepted and a bad value is quoted
    /// as written; a list (for the keys that take one), a number or a
    /// boolean that a provider holds as such is read as its type.
    static func read(
        _ key: ServeSettingKey,
        from reader: ConfigReader,
        recorder: ServeSettingsReadRecorder
    ) throws(ServeSettingsError) -> ServeSettingValue? {
        let configKey = ConfigKey(key.components)
        _ = recorder.take()
        if let text = reader.string(forKey: configKey, isSecret: key.isSecret) {
            return found(text, key, recorder.take())
        }
        let first = recorder.take()
        // With the origin reporter, a key that no provider sets needs no other read.
        if let first, !first.failed { return nil }
        if key.acceptsList, let entries = reader.stringArray(forKey: configKey, isSecret: key.isSecret) {
            return found(entries.joined(separator: ","), key, recorder.take())
        }
        if let number = reader.int(forKey: configKey, isSecret: key.isSecret) {
            return found(String(number), key, recorder.take())
        }
        if let number = reader.double(forKey: configKey, isSecret: key.isSecret) {
            return found(String(number), key, recorder.take())
        }
        if let flag = reader.bool(forKey: configKey, isSecret: key.isSecret) {
            return found(String(flag), key, recorder.take())
        }
        if let first, first.failed {
            throw ServeSettingsError(
                key: key, origin: originName(key, first), value: nil,
                problem: "expected a single value, not a list or a mapping"
            )
        }
        return nil
    }

    /// `text` trimmed with its origin, or `nil` when it counts as not set.
    private static func found(
        _ text: String,
        _ key: ServeSettingKey,
        _ read: ServeSettingsReadRecorder.Read?
    ) -> ServeSettingValue? {
        let value = text.trimmingWhitespace()
        guard !value.isEmpty else { return nil }
        if case .file? = read?.origin, yamlNulls.contains(value) { return nil }
        return ServeSettingValue(text: value, originName: originName(key, read), origin: read?.origin)
    }

    /// How the provider of `read` is named for `key`: by its origin when the
    /// reader reports it, else by the provider's name.
    private static func originName(_ key: ServeSettingKey, _ read: ServeSettingsReadRecorder.Read?) -> String {
        read?.origin?.name(of: key) ?? read?.provider ?? "the configuration"
    }

    /// Plain scalars that YAML reads as null.
    private static let yamlNulls: Set<String> = ["~", "null", "Null", "NULL"]
}
