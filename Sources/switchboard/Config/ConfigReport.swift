import Switchboard

/// The text of `switchboard config print`: every setting's effective value
/// and where it came from (a flag, the environment, the file, the default),
/// one line each, secrets masked.
struct ConfigReport {
    /// One setting's line.
    struct Row: Equatable {
        var key: ServeSettingKey
        /// The value as written where it was set, the default otherwise
        /// (`~` for none); a secret that is set shows as ``masked``.
        var value: String
        /// `default`, `flag --port`, `environment SWITCHBOARD_PORT` or `file /etc/switchboard.yaml`.
        var source: String
    }

    /// What a secret that is set shows instead of its value.
    static let masked = "<secret>"

    var rows: [Row]

    init(settings: ServeSettings) {
        rows = ServeSettingKey.allCases.map { key in
            guard let given = settings.values[key] else {
                return Row(key: key, value: key.defaultText ?? "~", source: "default")
            }
            return Row(key: key, value: key.isSecret ? Self.masked : given.text, source: Self.source(of: key, given))
        }
    }

    private static func source(of key: ServeSettingKey, _ value: ServeSettingValue) -> String {
        switch value.origin {
        case .flags?: "flag \(key.flag ?? "--\(key.rawValue)")"
        case .environment?: "environment \(key.environmentVariable)"
        case .file(let path)?: "file \(path)"
        case nil: value.originName
        }
    }

    /// The rows in three aligned columns under a header (a long value
    /// pushes its source to the right rather than being cut).
    var text: String {
        let keyWidth = rows.map(\.key.rawValue.count).max() ?? 0
        let valueWidth = min(48, rows.map(\.value.count).max() ?? 0)
        func line(_ key: String, _ value: String, _ source: String) -> String {
            key.padding(keyWidth) + "  " + value.padding(valueWidth) + "  " + source
        }
        let lines = [line("KEY", "VALUE", "SOURCE")] + rows.map { line($0.key.rawValue, $0.value, $0.source) }
        return lines.joined(separator: "\n") + "\n"
    }
}

private extension String {
    /// The string followed by spaces up to `width` characters.
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
