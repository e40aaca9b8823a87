import Configuration
import Foundation
import Switchboard

/// Loads the settings of `switchboard serve`: command-line flags first, then
/// `SWITCHBOARD_*` environment variables, then the YAML file given by
/// `--config` (or `SWITCHBOARD_CONFIG`), then the defaults.
///
/// Nothing is started; every value is checked, and the first problem is
/// reported as one line naming the key and where it was set.
struct ServeConfiguration {
    /// The environment variable that names the configuration file when `--config` is absent.
    static let configFileVariable = "SWITCHBOARD_CONFIG"

    /// `--config`, if given.
    var configPath: String?
    /// The other flags that were given.
    var flags: [ServeSettingKey: String]
    /// The process environment.
    var environment: [String: String]

    /// The settings, read through ``reader()``.
    func load() async throws(StartupError) -> ServeSettings {
        try Self.settings(from: try await reader())
    }

    /// The settings that `reader` (from ``reader()``) holds; a problem as one line.
    static func settings(from reader: ConfigReader) throws(StartupError) -> ServeSettings {
        do {
            return try ServeSettings(reader: reader)
        } catch {
            throw StartupError(error.description)
        }
    }

    /// One `ConfigReader` over the flags, the `SWITCHBOARD_*` variables and
    /// the YAML file, in that order (``ServeSettings/reader(flags:environment:file:)``);
    /// the file is checked first: it must exist, be YAML and set only known keys.
    func reader() async throws(StartupError) -> ConfigReader {
        var file: (path: String, provider: any ConfigProvider)?
        let configOrigin = configPath != nil ? "--config" : Self.configFileVariable
        if let path = configPath ?? environment[Self.configFileVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
            if let provider = try await fileProvider(path: path, origin: configOrigin) {
                file = (path, provider)
            }
        }
        return ServeSettings.reader(flags: flags, environment: environment, file: file)
    }

    /// One line for each `SWITCHBOARD_*` variable that is not a setting but
    /// is a near miss of one (`SWITCHBOARD_PUBSUB_ADAPTOR`): such a variable
    /// is ignored, and the setting keeps its default. Variables far from
    /// every setting are left alone: the deploy kit and HAProxy use some.
    func environmentWarnings() -> [String] {
        let prefix = ServeSettingKey.environmentPrefix + "_"
        // Compared without the prefix, which every name shares.
        let known = Set((ServeSettingKey.allCases.map(\.environmentVariable) + [Self.configFileVariable]).map { String($0.dropFirst(prefix.count)) })
        return environment.keys.sorted().compactMap { name in
            guard name.hasPrefix(prefix) else { return nil }
            let setting = String(name.dropFirst(prefix.count))
            guard !known.contains(setting), let suggestion = ConfigFileKeys.closest(to: setting, among: known) else { return nil }
            return "environment variable \(name) is not a setting and is ignored (did you mean \(prefix + suggestion)?)"
        }
    }

    /// The YAML file, or `nil` when it holds no settings at all (only
    /// comments); `origin` says where its path came from (`--config`).
    private func fileProvider(path: String, origin: String) async throws(StartupError) -> FileProvider<YAMLSnapshot>? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StartupError("config file \(path) (\(origin)) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw StartupError("config file \(path) (\(origin)) is a directory, not a YAML file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StartupError("config file \(path) (\(origin)) cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw StartupError("config file \(path) (\(origin)) is not valid YAML: it is not UTF-8 text")
        }
        if Self.holdsNoDocument(text) {
            return nil
        }
        let provider: FileProvider<YAMLSnapshot>
        do {
            // FilePath is swift-system's; it is built from a string this way
            // without importing swift-system directly.
            provider = try await FileProvider<YAMLSnapshot>(filePath: .init(stringLiteral: path))
        } catch {
            let reason = YAMLSyntaxProblem.describe(text) ?? "\(error)".split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            throw StartupError("config file \(path) (\(origin)) is not valid YAML: \(Self.explain(reason))")
        }
        if let (key, suggestion) = ConfigFileKeys.firstUnknown(in: text) {
            let hint = suggestion.map { " (did you mean \($0)?)" } ?? ""
            throw StartupError("config file \(path) (\(origin)) sets \(key), which is not a setting\(hint)")
        }
        return provider
    }

    /// Whether `text` is empty, or only blank lines, comments and document markers.
    private static func holdsNoDocument(_ text: String) -> Bool {
        text.split(whereSeparator: \.isNewline).allSatisfy { line in
            let line = line.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("#") || line == "---" || line == "..."
        }
    }

    /// A friendlier wording of the YAML provider's own complaints.
    private static func explain(_ reason: String) -> String {
        if reason.contains("Top level YAML value is not a mapping") {
            return "expected a mapping of keys to values (such as \"port: 4000\")"
        }
        return reason
    }
}
