/// The in-process adapter: a single node, nothing to carry anywhere.
public struct LocalAdapter: PubSubAdapter {
    public let nodeName: String

    public init(nodeName: String) {
        self.nodeName = nodeName
    }

    public func start(
        deliver: @escaping @Sendable (PubSubMessage) -> Void,
        control: @escaping @Sendable (ControlMessage) -> Void
    ) async throws {}
    public func shutdown() async {}
    public func broadcast(_ message: PubSubMessage) async throws {}

    public func directBroadcast(to node: String, _ message: PubSubMessage) async throws {
        guard node == nodeName else { throw PubSubError.unknownNode(node) }
    }

    /// There is no other node: a message for all of them reaches none.
    public func sendControl(_ message: ControlMessage, to node: String?) async throws {
        if let node, node != nodeName { throw PubSubError.unknownNode(node) }
    }

    public func topicActivated(_ topic: String) async throws {}
    public func topicDeactivated(_ topic: String) async {}

    public var status: AdapterStatus { AdapterStatus(name: "local", state: "connected") }
}

/// Errors of the PubSub layer.
/// (A struct around a private enum: a new kind of error is not a breaking change.)
public struct PubSubError: Error, Sendable, CustomStringConvertible {
    private enum Base: Sendable {
        case unknownNode(String)
        case unavailable(String)
        case notPublishable(String)
        case reserved(String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }


    public static func unknownNode(_ detail: String) -> PubSubError {
        PubSubError(.unknownNode(detail))
    }


    public static func unavailable(_ detail: String) -> PubSubError {
        PubSubError(.unavailable(detail))
    }

    /// The message cannot cross to other nodes (a topic or event too long
    /// for them to accept); local subscribers got it.
    public static func notPublishable(_ detail: String) -> PubSubError {
        PubSubError(.notPublishable(detail))
    }

    /// The topic is one the adapter keeps for itself
    /// (``PubSubAdapter/reservedTopics``); nobody got the message.
    public static func reserved(_ topic: String) -> PubSubError {
        PubSubError(.reserved(topic))
    }

    public var description: String {
        switch base {
        case .unknownNode(let node): return "no node named \(node)"
        case .unavailable(let reason): return "pubsub unavailable: \(reason)"
        case .notPublishable(let reason): return "not published to other nodes: \(reason)"
        case .reserved(let topic): return "\(topic) is reserved for the cluster"
        }
    }
}
