import Foundation
import Switchboard

/// The text of `switchboard config sample`: a YAML configuration file that
/// sets every key ``ServeSettingKey`` knows to its default (unset ones to
/// `~`), each under a comment saying what it does and which environment
/// variable and flag also set it.
enum ConfigSample {
    static func yaml() -> String {
        var lines = [
            "# switchboard serve configuration: every setting, at its default.",
            "# Each one is also read from its SWITCHBOARD_* environment variable and, for",
            "# some, a flag; flags win over the environment, which wins over this file.",
            "# A key written ~ is not set. Keep secrets out of files: set them in the",
            "# environment (SWITCHBOARD_SECRET_KEY_BASE, SWITCHBOARD_ADMIN_TOKEN, SWITCHBOARD_API_KEY).",
            "# `switchboard config print --config <file>` shows what a node would run with.",
        ]
        render(Group.of(ServeSettingKey.allCases), indent: "", into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Keys nested by their dotted components, in the order of their first key.
    private struct Group {
        var entries: [(name: String, entry: Entry)] = []

        enum Entry {
            case key(ServeSettingKey)
            case group(Group)
        }

        static func of(_ keys: [ServeSettingKey]) -> Group {
            var group = Group()
            for key in keys { group.insert(key, path: key.components[...]) }
            return group
        }

        private mutating func insert(_ key: ServeSettingKey, path: ArraySlice<String>) {
            let name = path.first!
            guard path.count > 1 else {
                entries.append((name, .key(key)))
                return
            }
            if let index = entries.firstIndex(where: { $0.name == name }), case .group(var nested) = entries[index].entry {
                nested.insert(key, path: path.dropFirst())
                entries[index].entry = .group(nested)
            } else {
                var nested = Group()
                nested.insert(key, path: path.dropFirst())
                entries.append((name, .group(nested)))
            }
        }
    }

    private static func render(_ group: Group, indent: String, into lines: inout [String]) {
        for (name, entry) in group.entries {
            lines.append("")
            switch entry {
            case .key(let key):
                lines.append("\(indent)# \(key.summary)")
                let flag = key.flag.map { ", \($0)" } ?? ""
                lines.append("\(indent)# \(key.environmentVariable)\(flag)")
                lines.append("\(indent)\(name): \(key.defaultText.map(scalar) ?? "~")")
            case .group(let nested):
                lines.append("\(indent)\(name):")
                render(nested, indent: indent + "  ", into: &lines)
            }
        }
    }

    /// `text` as a YAML scalar: plain when YAML reads it back as the same
    /// string, number or boolean, quoted otherwise.
    static func scalar(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._/:+-".unicodeScalars.contains($0)) }
        guard plain, !text.isEmpty, !text.contains(": ") else {
            return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return text
    }
}
