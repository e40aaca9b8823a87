/// Parses `a=1&b=two%20words` into a dictionary, percent- and `+`-decoding
/// names and values. Bounded: at most `maxParameters` pairs are read.
enum QueryString {
    static func parse(_ query: Substring, maxParameters: Int = 64) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true).prefix(maxParameters) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), !name.isEmpty else { continue }
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if let value { result[name] = value }
        }
        return result
    }

    /// Splits a request target into its path and query.
    static func split(uri: String) -> (path: Substring, query: Substring) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri[...], "") }
        return (uri[..<mark], uri[uri.index(after: mark)...])
    }

    /// Percent- and `+`-decodes a component; `nil` if an escape is malformed
    /// or the result is not UTF-8.
    static func decode(_ component: Substring) -> String? {
        PercentDecoding.decode(component, plusIsSpace: true)
    }
}
