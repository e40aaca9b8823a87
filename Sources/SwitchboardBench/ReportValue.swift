import Switchboard

/// One value in a bench report.
indirect enum ReportValue: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    /// A measured number, rounded to `decimals` places when printed.
    case number(Double, decimals: Int)
    case text(String)
    case section(ReportSection)

    /// Milliseconds with microsecond precision; `null` when not measured.
    static func milliseconds(_ value: Double?) -> ReportValue {
        value.map { .number($0, decimals: 3) } ?? .null
    }

    /// `value` with `decimals` places, or `null`.
    static func measured(_ value: Double?, decimals: Int = 2) -> ReportValue {
        guard let value, value.isFinite else { return .null }
        return .number(value, decimals: decimals)
    }

    /// A count table (`{"403": 2, "timeout": 1}`), largest first.
    static func counts(_ table: [String: Int]) -> ReportValue {
        var section = ReportSection()
        for (key, count) in table.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            section[key] = .int(count)
        }
        return .section(section)
    }

    var json: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .int(let value): return .int(value)
        case .number(let value, let decimals): return .double(Self.rounded(value, decimals: decimals))
        case .text(let value): return .string(value)
        case .section(let section): return section.json
        }
    }

    var text: String {
        switch self {
        case .null: return "-"
        case .bool(let value): return value ? "yes" : "no"
        case .int(let value): return String(value)
        case .number(let value, let decimals): return Self.format(value, decimals: decimals)
        case .text(let value): return value
        case .section(let section): return section.isEmpty ? "none" : section.inlineText
        }
    }

    static func rounded(_ value: Double, decimals: Int) -> Double {
        var scale = 1.0
        for _ in 0..<max(0, decimals) { scale *= 10 }
        return (value * scale).rounded() / scale
    }

    /// `value` with exactly `decimals` places (no Foundation formatter).
    static func format(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<max(0, decimals) { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(value) }
        let whole = UInt64(scaled)
        let sign = value < 0 && whole > 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(whole) }
        let unit = UInt64(scale)
        var fraction = String(whole % unit)
        while fraction.count < decimals { fraction = "0" + fraction }
        return sign + String(whole / unit) + "." + fraction
    }
}

/// An ordered set of named report values: printed as aligned text, or as one
/// JSON object with `--json`.
struct ReportSection: Sendable {
    private(set) var entries: [(key: String, value: ReportValue)] = []

    init() {}

    var isEmpty: Bool { self.entries.isEmpty }

    subscript(key: String) -> ReportValue? {
        get { self.entries.first(where: { $0.key == key })?.value }
        set {
            if let index = self.entries.firstIndex(where: { $0.key == key }) {
                if let newValue {
                    self.entries[index].value = newValue
                } else {
                    self.entries.remove(at: index)
                }
            } else if let newValue {
                self.entries.append((key, newValue))
            }
        }
    }

    var json: JSONValue {
        var object: [(String, JSONValue)] = []
        for entry in self.entries {
            object.append((entry.key, entry.value.json))
        }
        return JSONValue.orderedObject(object)
    }

    /// `a=1 b=2` for small nested tables.
    var inlineText: String {
        self.entries.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ")
    }

    /// One `key: value` line per entry; nested sections are indented.
    func textLines(indent: String = "") -> [String] {
        let width = self.entries.map(\.key.count).max() ?? 0
        var lines: [String] = []
        for entry in self.entries {
            let padding = String(repeating: " ", count: width - entry.key.count)
            if case .section(let nested) = entry.value, nested.entries.contains(where: { if case .section = $0.value { true } else { false } }) || nested.entries.count > 6 {
                lines.append("\(indent)\(entry.key):")
                lines.append(contentsOf: nested.textLines(indent: indent + "  "))
            } else {
                lines.append("\(indent)\(entry.key):\(padding) \(entry.value.text)")
            }
        }
        return lines
    }
}

extension JSONValue {
    /// A JSON object with `pairs` in order (a repeated key keeps its last value).
    static func orderedObject(_ pairs: [(String, JSONValue)]) -> JSONValue {
        var value: JSONValue = [:]
        guard case .object(var object) = value else { return value }
        for (key, member) in pairs {
            object[key] = member
        }
        value = .object(object)
        return value
    }
}
