import Configuration
@testable import switchboard

extension ConfigReader {
    /// The path the in-memory stand-in for the YAML file is named by.
    static let testFilePath = "/etc/switchboard.yaml"

    /// The reader `serve` builds (``ServeSettings/reader(flags:environment:file:)``),
    /// with an `InMemoryProvider` standing in for the YAML file at
    /// ``testFilePath``: `file` by dotted key, as text, and `fileValues` as
    /// any configuration content (a list, for instance).
    static func serve(
        flags: [ServeSettingKey: String] = [:],
        environment: [String: String] = [:],
        file: [String: String] = [:],
        fileValues: [String: ConfigContent] = [:]
    ) -> ConfigReader {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in file {
            values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(.string(value), isSecret: false)
        }
        for (key, content) in fileValues {
            values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(content, isSecret: false)
        }
        let fileProvider = InMemoryProvider(name: testFilePath, values: values)
        return ServeSettings.reader(
            flags: flags,
            environment: environment,
            file: values.isEmpty ? nil : (testFilePath, fileProvider)
        )
    }
}
