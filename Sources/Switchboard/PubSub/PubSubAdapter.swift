/// Carries broadcasts, and the cluster's control messages, between nodes.
/// The rest of the system never names a concrete adapter: ``LocalAdapter``
/// for one node, Redis for a cluster.
public protocol PubSubAdapter: Sendable {
    /// This node's name, unique in the cluster.
    var nodeName: String { get }

    /// Starts the adapter: `deliver` receives broadcasts from other nodes,
    /// `control` their control messages, from now until ``shutdown()``.
    func start(
        deliver: @escaping @Sendable (PubSubMessage) -> Void,
        control: @escaping @Sendable (ControlMessage) -> Void
    ) async throws
    /// Stops the adapter and releases its connections.
    func shutdown() async
    /// The first step of a node's stop, before ``shutdown()``: takes nothing
    /// more from other nodes, while this node can still send (its answers
    /// to what it already took). From now on, a direct message to this node
    /// reaches no one, so its sender hears so at once rather than waiting
    /// for an answer. Does nothing by default.
    func stopReceiving() async

    /// Sends to every other node; those nodes dispatch it to their subscribers.
    func broadcast(_ message: PubSubMessage) async throws
    /// Sends to one named node only.
    func directBroadcast(to node: String, _ message: PubSubMessage) async throws

    /// Sends a control message to every other node (`node` is `nil`), or to
    /// the node named `node` only. Control messages travel apart from every
    /// topic: no channel subscriber ever sees one.
    func sendControl(_ message: ControlMessage, to node: String?) async throws
    /// Topics the adapter cannot carry as broadcasts (where its wire format
    /// puts control messages, say): clients cannot join them and
    /// `/api/broadcast` refuses them. None by default.
    var reservedTopics: Set<String> { get }

    /// The local subscriber count of `topic` went from 0 to 1. Returns once
    /// messages for it from other nodes will arrive (so a join reply sent
    /// afterwards never misses a broadcast).
    func topicActivated(_ topic: String) async throws
    /// The local subscriber count of `topic` went from 1 to 0.
    func topicDeactivated(_ topic: String) async

    /// The newest version of this adapter's wire format (how it carries
    /// messages between nodes) that it reads. The node reports it to the
    /// others as `wire_version` (``NodeReport/wireVersion``). 1 by default.
    var wireVersion: Int { get }
    /// The lowest ``wireVersion`` among the live peers, as the core learns it
    /// from their reports (a peer that reports none reads version 1). An
    /// adapter with several wire versions writes no newer one than this, so
    /// that every node reads what it sends during a rolling deploy; until the
    /// first call it writes its oldest. Called again whenever it changes,
    /// at most once per report interval. Does nothing by default.
    func peersRead(wireVersion: Int)

    /// State for health checks: `"connected"`, `"reconnecting"`, …
    var status: AdapterStatus { get }
    /// Totals since start, for metrics.
    var counters: PubSubAdapterCounters { get }
}

/// What an adapter reports about its connection to the cluster.
public struct AdapterStatus: Sendable, Hashable {
    /// One of the adapter's connections and its state.
    public struct Connection: Sendable, Hashable {
        /// `subscriber`, `publisher 0`, or on a Redis Cluster
        /// `shard 10.0.0.21:6379 subscriber`.
        public var name: String
        /// `connected`, `connecting`, `reconnecting` or `stopped`.
        public var state: String
        /// Why it is not connected, when it is not.
        public var detail: String?

        public init(name: String, state: String, detail: String? = nil) {
            self.name = name
            self.state = state
            self.detail = detail
        }
    }

    public var name: String
    /// The adapter's state as a whole: connected only while every connection is.
    public var state: String
    public var detail: String?
    /// Each connection, by name; empty for an adapter without any (the local one).
    public var connections: [Connection]

    public init(name: String, state: String, detail: String? = nil, connections: [Connection] = []) {
        self.name = name
        self.state = state
        self.detail = detail
        self.connections = connections
    }

    /// The `pubsub` object of `/healthz`, `/readyz` and the admin API's
    /// `/stats`: `adapter`, `state`, `detail` and `connections`.
    var json: JSONValue {
        var json: JSONObject = ["adapter": .string(name), "state": .string(state)]
        if let detail { json["detail"] = .string(detail) }
        if !connections.isEmpty {
            json["connections"] = .array(connections.map { connection in
                var entry: JSONObject = ["name": .string(connection.name), "state": .string(connection.state)]
                if let detail = connection.detail { entry["detail"] = .string(detail) }
                return .object(entry)
            })
        }
        return .object(json)
    }
}

/// Totals an adapter has counted since it started, for metrics.
public struct PubSubAdapterCounters: Sendable, Hashable {
    /// Messages sent to other nodes.
    public var published = 0
    /// Messages received from other nodes.
    public var received = 0
    /// Messages that could not be sent (the cluster unreachable) and were dropped.
    public var dropped = 0
    /// Connections to the cluster re-established after a loss.
    public var reconnects = 0
    /// Messages held now for other nodes until the cluster is back (an
    /// outage buffer); a level, not a total.
    public var bufferedMessages = 0
    /// The bytes of ``bufferedMessages``; a level, not a total.
    public var bufferedBytes = 0

    public init(published: Int = 0, received: Int = 0, dropped: Int = 0, reconnects: Int = 0, bufferedMessages: Int = 0, bufferedBytes: Int = 0) {
        self.published = published
        self.received = received
        self.dropped = dropped
        self.reconnects = reconnects
        self.bufferedMessages = bufferedMessages
        self.bufferedBytes = bufferedBytes
    }

    /// The increase of the totals since `earlier`; the levels as they are now.
    func since(_ earlier: PubSubAdapterCounters) -> PubSubAdapterCounters {
        PubSubAdapterCounters(
            published: max(0, published - earlier.published), received: max(0, received - earlier.received),
            dropped: max(0, dropped - earlier.dropped), reconnects: max(0, reconnects - earlier.reconnects),
            bufferedMessages: bufferedMessages, bufferedBytes: bufferedBytes
        )
    }
}

extension PubSubAdapter {
    /// Adapters that receive nothing from other nodes have nothing to stop first.
    public func stopReceiving() async {}

    /// Adapters with a single wire format have version 1.
    public var wireVersion: Int { 1 }
    /// Adapters with a single wire format have nothing to choose.
    public func peersRead(wireVersion: Int) {}

    /// Adapters whose control messages cannot meet a topic reserve none.
    public var reservedTopics: Set<String> { [] }

    /// Adapters that count nothing (the local one, which carries nothing) report zeros.
    public var counters: PubSubAdapterCounters { PubSubAdapterCounters() }
}
