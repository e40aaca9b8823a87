/// Parses `a=1&b=two%20words` into a dictionary, percent- and `+`-decoding
/// names and values. Bounded: at most `maxParameters` pairs are read.
///
/// Pairs are found by their ASCII separators in the UTF-8 bytes, not by
/// `Character`: a long-poll request carries its session token in the query
/// on every poll, and reading it is on the hot path.
enum QueryString {
    static func parse(_ query: Substring, maxParameters: Int = 64) -> [String: String] {
        var result: [String: String] = [:]
        forEachPair(in: query, maxParameters: maxParameters) { name, value in
            guard let name = decode(name), !name.isEmpty, let value = decode(value) else { return }
            result[name] = value
        }
        return result
    }

    /// The value of the parameter `name`, as ``parse(_:maxParameters:)``
    /// would give it (the last one wins), decoding no other value.
    static func value(named name: String, in query: Substring, maxParameters: Int = 64) -> String? {
        var found: String?
        forEachPair(in: query, maxParameters: maxParameters) { rawName, rawValue in
            let matches = rawName.utf8.elementsEqual(name.utf8) || (PercentDecoding.isEncoded(rawName, plusIsSpace: true) && decode(rawName) == name)
            if matches, let value = decode(rawValue) { found = value }
        }
        return found
    }

    /// Splits a request target into its path and query.
    static func split(uri: String) -> (path: Substring, query: Substring) {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (uri[...], "") }
        return (uri[..<mark], uri[uri.utf8.index(after: mark)...])
    }

    /// Percent- and `+`-decodes a component; `nil` if an escape is malformed
    /// or the result is not UTF-8.
    static func decode(_ component: Substring) -> String? {
        PercentDecoding.decode(component, plusIsSpace: true)
    }

    /// Calls `body` with the raw name and value of each non-empty pair, at
    /// most `maxParameters` of them; a pair without `=` has an empty value.
    private static func forEachPair(in query: Substring, maxParameters: Int, _ body: (Substring, Substring) -> Void) {
        var rest = query
        var count = 0
        while !rest.isEmpty, count < maxParameters {
            let end = rest.utf8.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let pair = rest[..<end]
            rest = end == rest.endIndex ? rest[end...] : rest[rest.utf8.index(after: end)...]
            guard !pair.isEmpty else { continue }
            count += 1
            if let equals = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                body(pair[..<equals], pair[pair.utf8.index(after: equals)...])
            } else {
                body(pair, "")
            }
        }
    }
}
