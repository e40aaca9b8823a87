import Switchboard
/// Parsers for the value forms of the configuration: whole numbers, byte
/// sizes and durations.
extension ServeSettings {
    /// A decimal whole number with an optional sign: `4000`, `-1`.
    static func parseInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || $0 == "-" || $0 == "+" }) else {
            return nil
        }
        return Int(text)
    }

    /// A number of bytes, bare or with a binary unit: `1048576`, `64KiB`, `1 MiB`, `1GiB`.
    static func parseByteSize(_ text: String) -> Int? {
        let (number, unit) = split(text)
        let multiplier: Int
        switch unit.lowercased() {
        case "", "b": multiplier = 1
        case "kib": multiplier = 1 << 10
        case "mib": multiplier = 1 << 20
        case "gib": multiplier = 1 << 30
        default: return nil
        }
        guard !number.isEmpty, number.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
              let count = Int(number)
        else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// A duration: a number of seconds (`60`, `1.5`), or a number with a
    /// unit `ms`, `s`, `m` or `h` (see ``Duration/init(settingText:)``).
    public static func parseDuration(_ text: String) -> Duration? {
        Duration(settingText: text)
    }

    /// Splits `"64 KiB"` into `("64", "KiB")`: the leading digits and dots,
    /// then the rest without surrounding spaces.
    private static func split(_ text: String) -> (number: Substring, unit: String) {
        let end = text.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? text.endIndex
        return (text[..<end], String(text[end...]).trimmingWhitespace())
    }
}
