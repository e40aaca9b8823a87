import Switchboard
/// One place ``ServeSettings`` reads values from: the command line, the
/// environment or a configuration file. Values are strings as written; the
/// settings parse and check them.
public struct ServeSettingsSource: Sendable {
    /// Where values come from, to name them in error messages.
    public enum Kind: Sendable, Hashable {
        /// Command-line flags (`--port`).
        case flags
        /// Environment variables (`SWITCHBOARD_PORT`).
        case environment
        /// A YAML configuration file at this path (`port:`). A value written
        /// as YAML null (`~`, `null`) counts as not set.
        case file(path: String)
    }

    /// Where values come from.
    public var kind: Kind
    /// The raw value of a key, `nil` when this source does not set it; throws
    /// when the source holds something that is not a single value.
    public var lookup: @Sendable (ServeSettingKey) throws -> String?

    public init(kind: Kind, lookup: @escaping @Sendable (ServeSettingKey) throws -> String?) {
        self.kind = kind
        self.lookup = lookup
    }

    /// Flags that were given on the command line.
    public static func flags(_ values: [ServeSettingKey: String]) -> ServeSettingsSource {
        ServeSettingsSource(kind: .flags) { values[$0] }
    }

    /// Environment variables, by their exact names (``ServeSettingKey/environmentVariable``).
    public static func environment(_ variables: [String: String]) -> ServeSettingsSource {
        ServeSettingsSource(kind: .environment) { variables[$0.environmentVariable] }
    }

    /// How a key set by this source is named in messages: `--port`,
    /// `SWITCHBOARD_PORT`, or `port in /etc/switchboard.yaml`.
    public func origin(of key: ServeSettingKey) -> String {
        switch kind {
        case .flags: return key.flag ?? "--\(key.rawValue)"
        case .environment: return key.environmentVariable
        case .file(let path): return "\(key.rawValue) in \(path)"
        }
    }
}
