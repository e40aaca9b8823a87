/// Carries broadcasts between nodes. The rest of the system never names a
/// concrete adapter: ``LocalAdapter`` for one node, Redis for a cluster.
public protocol PubSubAdapter: Sendable {
    /// This node's name, unique in the cluster.
    var nodeName: String { get }

    /// Starts the adapter; `deliver` receives messages from other nodes.
    func start(deliver: @escaping @Sendable (PubSubMessage) -> Void) async throws
    /// Stops the adapter and releases its connections.
    func shutdown() async

    /// Sends to every other node; those nodes dispatch it to their subscribers.
    func broadcast(_ message: PubSubMessage) async throws
    /// Sends to one named node only.
    func directBroadcast(to node: String, _ message: PubSubMessage) async throws

    /// The local subscriber count of `topic` went from 0 to 1. Returns once
    /// messages for it from other nodes will arrive (so a join reply sent
    /// afterwards never misses a broadcast).
    func topicActivated(_ topic: String) async throws
    /// The local subscriber count of `topic` went from 1 to 0.
    func topicDeactivated(_ topic: String) async

    /// State for health checks: `"connected"`, `"reconnecting"`, …
    var status: AdapterStatus { get }
}

/// What an adapter reports about its connection to the cluster.
public struct AdapterStatus: Sendable, Hashable {
    public var name: String
    public var state: String
    public var detail: String?

    public init(name: String, state: String, detail: String? = nil) {
        self.name = name
        self.state = state
        self.detail = detail
    }
}
