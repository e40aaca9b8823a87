/// A Redis URL that cannot be used, and why.
public struct RedisURLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL as given, password hidden.
    public var url: String
    public var problem: String

    public var description: String {
        "malformed Redis URL \"\(url)\": \(problem)"
    }
}
