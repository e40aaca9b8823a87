@testable import Switchboard
import SwitchboardTesting

/// Random JSON values and strings for serializer round trips: control
/// characters, quotes, backslashes, non-ASCII and astral code points, finite
/// doubles and integers at the extremes.
enum RandomJSON {
    private static let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀", "\u{FEFF}", ":", "*"]

    static func string(nonEmpty: Bool = false, using generator: inout SeededGenerator) -> String {
        let count = Int.random(in: (nonEmpty ? 1 : 0)...12, using: &generator)
        return String((0..<count).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func optionalString(using generator: inout SeededGenerator) -> String? {
        Int.random(in: 0..<4, using: &generator) == 0 ? nil : string(using: &generator)
    }

    static func value(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 0 ? 8 : 6), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int([Int.min, Int.max, 0, -1, Int.random(in: -1_000_000...1_000_000, using: &generator)].randomElement(using: &generator)!)
        case 3:
            let double = [0.1, -0.0, 1e300, -2.5e-300, 1.0, Double.random(in: -1e6...1e6, using: &generator)].randomElement(using: &generator)!
            return .double(double)
        case 4, 5: return .string(string(using: &generator))
        case 6: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in value(depth: depth - 1, using: &generator) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                object[string(using: &generator)] = value(depth: depth - 1, using: &generator)
            }
            return .object(object)
        }
    }
}
