import Switchboard
import Yams

/// The keys a YAML configuration file sets, checked against the settings
/// `serve` knows: a misspelled key (`pubsub.adaptor`) would otherwise be
/// ignored without a word, and the node would run on the default.
enum ConfigFileKeys {
    /// The first key of `text` that is not a setting, with the closest
    /// setting's name when one is near; `nil` when every key is known (or
    /// the text is not a YAML mapping, which the file's parser reports).
    static func firstUnknown(in text: String) -> (key: String, suggestion: String?)? {
        guard let node = try? Yams.compose(yaml: text), let mapping = node.mapping else { return nil }
        let known = Set(ServeSettingKey.allCases.map(\.rawValue))
        guard let unknown = paths(in: mapping).first(where: { !known.contains($0) }) else { return nil }
        return (unknown, closest(to: unknown, among: known))
    }

    /// The dotted path of every value under `mapping` that is not itself a mapping.
    static func paths(in mapping: Node.Mapping, prefix: String = "") -> [String] {
        mapping.flatMap { key, value -> [String] in
            let path = prefix + (key.string ?? "\(key)")
            if let nested = value.mapping {
                return paths(in: nested, prefix: path + ".")
            }
            return [path]
        }
    }

    /// The known name at the smallest edit distance from `key`, if it is at
    /// most a third of the key's length away (two edits for short names).
    static func closest(to key: String, among known: Set<String>) -> String? {
        let scored = known.map { ($0, editDistance(Array(key.utf8), Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }),
              best.1 <= max(2, key.utf8.count / 3)
        else { return nil }
        return best.0
    }

    /// Levenshtein distance.
    private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
