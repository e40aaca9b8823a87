/// The in-process adapter: a single node, nothing to carry anywhere.
public struct LocalAdapter: PubSubAdapter {
    public let nodeName: String

    public init(nodeName: String) {
        self.nodeName = nodeName
    }

    public func start(deliver: @escaping @Sendable (PubSubMessage) -> Void) async throws {}
    public func shutdown() async {}
    public func broadcast(_ message: PubSubMessage) async throws {}

    public func directBroadcast(to node: String, _ message: PubSubMessage) async throws {
        guard node == nodeName else { throw PubSubError.unknownNode(node) }
    }

    public func topicActivated(_ topic: String) async throws {}
    public func topicDeactivated(_ topic: String) async {}

    public var status: AdapterStatus { AdapterStatus(name: "local", state: "connected") }
}

/// Errors of the PubSub layer.
public enum PubSubError: Error, Sendable, CustomStringConvertible {
    case unknownNode(String)
    case unavailable(String)
    /// The message cannot cross to other nodes (a topic or event too long
    /// for them to accept); local subscribers got it.
    case notPublishable(String)

    public var description: String {
        switch self {
        case .unknownNode(let node): return "no node named \(node)"
        case .unavailable(let reason): return "pubsub unavailable: \(reason)"
        case .notPublishable(let reason): return "not published to other nodes: \(reason)"
        }
    }
}
