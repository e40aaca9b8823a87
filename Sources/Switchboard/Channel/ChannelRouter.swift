/// Maps topics to the channel that handles them, in registration order.
///
/// Patterns are exact topics (`"lobby"`), prefixes ending in `*`
/// (`"room:*"` matches `"room:1"` and `"room:"`), or `"*"` for every topic.
public struct ChannelRouter: Sendable {
    /// Makes a fresh channel instance for one join.
    public typealias Factory = @Sendable () -> any Channel

    struct Route: Sendable {
        var pattern: TopicPattern
        var factory: Factory
    }

    private(set) var routes: [Route] = []

    public init() {}

    /// Routes topics matching `pattern` to instances made by `factory`.
    public mutating func channel(_ pattern: String, _ factory: @escaping Factory) {
        routes.append(Route(pattern: TopicPattern(pattern), factory: factory))
    }

    /// The route for `topic`, or `nil` when no channel handles it.
    func route(for topic: String) -> Route? {
        return routes.first { $0.pattern.matches(topic) }
    }
}

/// A topic pattern: exact, or a prefix followed by `*`.
struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable {
        case exact(String)
        case prefix(String)
    }

    private let kind: Kind
    let description: String

    init(_ pattern: String) {
        description = pattern
        if pattern.hasSuffix("*") {
            kind = .prefix(String(pattern.dropLast()))
        } else {
            kind = .exact(pattern)
        }
    }

    func matches(_ topic: String) -> Bool {
        switch kind {
        case .exact(let exact): return topic == exact
        case .prefix(let prefix): return topic.hasPrefix(prefix)
        }
    }
}
