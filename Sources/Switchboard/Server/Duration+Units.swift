import NIOCore

extension Duration {
    /// The duration in seconds, as a `Double`.
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The whole nanoseconds of the duration, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + attoseconds / 1_000_000_000
    }
}

extension Duration {
    /// A duration as configuration and the admin API write it: a number of
    /// seconds (`60`, `1.5`), or a number with a unit `ms`, `s`, `m` or `h`
    /// (`500ms`, `60s`, `2m`, `1h`). Negative durations and durations over a
    /// year are rejected (`nil`).
    package init?(settingText text: String) {
        let end = text.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? text.endIndex
        let number = text[..<end]
        let nanosecondsPerUnit: Double
        switch String(text[end...]).trimmingWhitespace() {
        case "ms": nanosecondsPerUnit = 1e6
        case "", "s": nanosecondsPerUnit = 1e9
        case "m": nanosecondsPerUnit = 60e9
        case "h": nanosecondsPerUnit = 3_600e9
        default: return nil
        }
        guard
            !number.isEmpty, number.first != ".", number.last != ".",
            number.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || $0 == "." }),
            let value = Double(number)
        else { return nil }
        let nanoseconds = value * nanosecondsPerUnit
        guard nanoseconds.isFinite, nanoseconds <= 365 * 86_400e9 else { return nil }
        self = .nanoseconds(Int64(nanoseconds.rounded()))
    }
}

extension TimeAmount {
    /// The NIO time amount of `duration`.
    init(_ duration: Duration) {
        self = .nanoseconds(duration.nanoseconds)
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    package func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
