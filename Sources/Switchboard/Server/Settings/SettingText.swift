/// Parsers for the value forms configuration text takes: whole numbers,
/// byte sizes and durations.
package enum SettingText {
    /// A decimal whole number with an optional sign: `4000`, `-1`.
    /// `true`, `yes`, `on`, `1` or their opposites, in any case.
    package static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    package static func integer(_ text: String) -> Int? {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || $0 == "-" || $0 == "+" }) else {
            return nil
        }
        return Int(text)
    }

    /// A number of bytes, bare or with a binary unit: `1048576`, `64KiB`, `1 MiB`, `1GiB`.
    package static func byteSize(_ text: String) -> Int? {
        let end = text.firstIndex { !($0.isASCII && $0.isNumber) } ?? text.endIndex
        let number = text[..<end]
        let multiplier: Int
        switch String(text[end...]).trimmingWhitespace().lowercased() {
        case "", "b": multiplier = 1
        case "kib": multiplier = 1 << 10
        case "mib": multiplier = 1 << 20
        case "gib": multiplier = 1 << 30
        default: return nil
        }
        guard !number.isEmpty, let count = Int(number) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// A duration: a number of seconds (`60`, `1.5`), or a number with a
    /// unit `ms`, `s`, `m` or `h` (see ``Duration/init(settingText:)``).
    package static func duration(_ text: String) -> Duration? {
        Duration(settingText: text)
    }

    /// Whether `scalar` may appear in a node name: ASCII letters, digits, `.-_:@`.
    package static func isNodeNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_:@".unicodeScalars.contains(scalar))
    }
}
