import CoreMetrics
import NIOConcurrencyHelpers

/// The metrics of one server, recorded through a swift-metrics factory
/// (``MetricsOptions``): the process's `MetricsSystem` unless the server was
/// given its own.
///
/// Counters of the per-message fast path (messages in, frames out,
/// deliveries) are counted in plain integers by each event loop's
/// ``LoopDispatcher`` and added here in batches (``LoopCounts``).
package final class ServerMetrics: Sendable {
    let connections: CoreMetrics.Gauge
    /// The long-poll sessions among ``connections``.
    let longPollSessions: CoreMetrics.Gauge
    /// Long-poll requests this node sent to the node that owns their session.
    let longPollForwarded: CoreMetrics.Counter
    let channels: CoreMetrics.Gauge
    let topics: CoreMetrics.Gauge
    let messagesIn: CoreMetrics.Counter
    let framesOut: CoreMetrics.Counter
    let broadcasts: CoreMetrics.Counter
    let deliveries: CoreMetrics.Counter
    let fanoutTime: CoreMetrics.Timer
    /// 1 while the PubSub adapter reaches the other nodes (always, with the local adapter).
    private let pubsubConnected: CoreMetrics.Gauge
    /// `switchboard_pubsub_connection_up` by connection name; a connection
    /// the adapter no longer lists is removed from the page.
    private let pubsubConnectionUp = NIOLockedValueBox<[String: CoreMetrics.Gauge]>([:])
    private let factory: any MetricsFactory
    private let pubsubBufferedMessages: CoreMetrics.Gauge
    private let pubsubBufferedBytes: CoreMetrics.Gauge
    /// One gauge per ``nodeStates`` value: 1 for the node's state, 0 for the others.
    private let nodeState: [String: CoreMetrics.Gauge]
    private let slowConsumerCloses: CoreMetrics.Counter
    /// By transport, then status.
    private let connects: [String: [String: CoreMetrics.Counter]]
    private let joins: [String: CoreMetrics.Counter]
    private let sheds: [String: CoreMetrics.Counter]
    private let pubsubPublished: CoreMetrics.Counter
    private let pubsubReceived: CoreMetrics.Counter
    private let pubsubDropped: CoreMetrics.Counter
    private let pubsubReconnects: CoreMetrics.Counter

    /// The `status` values of `switchboard_socket_connects_total`.
    static let connectStatuses = ["ok", "refused", "invalid", "unavailable", "limited", "error"]
    /// The `transport` values of `switchboard_socket_connects_total`.
    static let transports = ["websocket", "longpoll"]
    /// The `status` values of `switchboard_channel_joins_total`.
    static let joinStatuses = ["ok", "refused", "crashed"]
    /// The `reason` values of `switchboard_shed_connections_total`.
    static let shedReasons = ["operator", "drain", "shutdown", "rebalance", "max_age", "resource_guard"]
    /// The `state` values of `switchboard_node_state` (``ServerRuntime/operationalState``).
    static let nodeStates = ["serving", "guarded", "draining", "drained", "stopping"]

    /// Metrics recorded through `factory`; `version` labels `switchboard_build_info`.
    package init(factory: any MetricsFactory = MetricsSystem.factory, version: String = SwitchboardVersion.current) {
        self.factory = factory
        connections = CoreMetrics.Gauge(label: "switchboard_connections", factory: factory)
        longPollSessions = CoreMetrics.Gauge(label: "switchboard_longpoll_sessions", factory: factory)
        longPollForwarded = CoreMetrics.Counter(label: "switchboard_longpoll_forwarded_total", factory: factory)
        channels = CoreMetrics.Gauge(label: "switchboard_channels", factory: factory)
        topics = CoreMetrics.Gauge(label: "switchboard_topics", factory: factory)
        messagesIn = CoreMetrics.Counter(label: "switchboard_messages_in_total", factory: factory)
        framesOut = CoreMetrics.Counter(label: "switchboard_frames_out_total", factory: factory)
        broadcasts = CoreMetrics.Counter(label: "switchboard_broadcasts_total", factory: factory)
        deliveries = CoreMetrics.Counter(label: "switchboard_deliveries_total", factory: factory)
        fanoutTime = CoreMetrics.Timer(label: MetricsOptions.fanoutTimerLabel, factory: factory)
        func family(_ label: String, _ dimension: String, _ values: [String]) -> [String: CoreMetrics.Counter] {
            Dictionary(uniqueKeysWithValues: values.map { ($0, CoreMetrics.Counter(label: label, dimensions: [(dimension, $0)], factory: factory)) })
        }
        connects = Dictionary(uniqueKeysWithValues: Self.transports.map { transport in
            (transport, Dictionary(uniqueKeysWithValues: Self.connectStatuses.map { status in
                (status, CoreMetrics.Counter(
                    label: "switchboard_socket_connects_total", dimensions: [("status", status), ("transport", transport)], factory: factory
                ))
            }))
        })
        joins = family("switchboard_channel_joins_total", "status", Self.joinStatuses)
        sheds = family("switchboard_shed_connections_total", "reason", Self.shedReasons)
        pubsubPublished = CoreMetrics.Counter(label: "switchboard_pubsub_published_total", factory: factory)
        pubsubReceived = CoreMetrics.Counter(label: "switchboard_pubsub_received_total", factory: factory)
        pubsubDropped = CoreMetrics.Counter(label: "switchboard_pubsub_dropped_total", factory: factory)
        pubsubReconnects = CoreMetrics.Counter(label: "switchboard_pubsub_reconnects_total", factory: factory)
        pubsubConnected = CoreMetrics.Gauge(label: "switchboard_pubsub_connected", factory: factory)
        pubsubBufferedMessages = CoreMetrics.Gauge(label: "switchboard_pubsub_buffered_messages", factory: factory)
        pubsubBufferedBytes = CoreMetrics.Gauge(label: "switchboard_pubsub_buffered_bytes", factory: factory)
        nodeState = Dictionary(uniqueKeysWithValues: Self.nodeStates.map { state in
            (state, CoreMetrics.Gauge(label: "switchboard_node_state", dimensions: [("state", state)], factory: factory))
        })
        slowConsumerCloses = CoreMetrics.Counter(label: "switchboard_slow_consumer_closes_total", factory: factory)
        CoreMetrics.Gauge(label: "switchboard_build_info", dimensions: Self.buildLabels(version: version), factory: factory).record(1)
    }

    /// The labels of `switchboard_build_info`: the version, the Swift
    /// compiler and the platform it was built for.
    static func buildLabels(version: String) -> [(String, String)] {
        [("version", version), ("swift", BuildInfo.swiftVersion), ("platform", BuildInfo.platform)]
    }

    /// Records the node's state (one of ``nodeStates``).
    func nodeState(_ current: String) {
        for (state, gauge) in nodeState {
            gauge.record(state == current ? 1 : 0)
        }
    }

    /// One connect of `transport` (`websocket`, `longpoll`) ended with `status`.
    func socketConnect(_ status: String, transport: String = "websocket") {
        connects[transport]?[status]?.increment()
    }

    func channelJoin(_ status: String) {
        joins[status]?.increment()
    }

    func shed(_ reason: String) {
        sheds[reason]?.increment()
    }

    /// Records the adapter's state as a whole and each of its connections'.
    func pubsub(_ status: AdapterStatus) {
        pubsubConnected.record(status.state == "connected" ? 1 : 0)
        pubsubConnectionUp.withLockedValue { gauges in
            var gone = Set(gauges.keys)
            for connection in status.connections {
                gone.remove(connection.name)
                let gauge = gauges[connection.name] ?? {
                    let gauge = CoreMetrics.Gauge(label: "switchboard_pubsub_connection_up", dimensions: [("connection", connection.name)], factory: factory)
                    gauges[connection.name] = gauge
                    return gauge
                }()
                gauge.record(connection.state == "connected" ? 1 : 0)
            }
            for name in gone {
                gauges.removeValue(forKey: name)?.destroy()
            }
        }
    }

    /// Adds the adapter's counts of the last interval.
    func add(_ counters: PubSubAdapterCounters) {
        if counters.published > 0 { pubsubPublished.increment(by: counters.published) }
        if counters.received > 0 { pubsubReceived.increment(by: counters.received) }
        if counters.dropped > 0 { pubsubDropped.increment(by: counters.dropped) }
        if counters.reconnects > 0 { pubsubReconnects.increment(by: counters.reconnects) }
        pubsubBufferedMessages.record(counters.bufferedMessages)
        pubsubBufferedBytes.record(counters.bufferedBytes)
    }

    /// Adds one loop's batch of fast-path counts.
    func add(_ counts: LoopCounts) {
        if counts.messagesIn > 0 { messagesIn.increment(by: counts.messagesIn) }
        if counts.framesOut > 0 { framesOut.increment(by: counts.framesOut) }
        if counts.deliveries > 0 { deliveries.increment(by: counts.deliveries) }
        if counts.broadcasts > 0 { broadcasts.increment(by: counts.broadcasts) }
        if counts.slowConsumerCloses > 0 { slowConsumerCloses.increment(by: counts.slowConsumerCloses) }
    }
}
