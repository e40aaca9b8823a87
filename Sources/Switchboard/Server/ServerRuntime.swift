import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// The state of a running server that its connections share: configuration,
/// PubSub, the per-loop dispatchers and the counters behind health checks.
final class ServerRuntime: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger
    let pubsub: PubSub
    let dispatchers: [LoopDispatcher]
    private let dispatcherByLoop: [ObjectIdentifier: LoopDispatcher]
    private let accepting = Atomic<Bool>(true)
    /// Open sockets, on every transport.
    private let connections = OpenCount()
    /// Channel instances whose end (leaving the topic, presence, the
    /// channel's `terminate`) has not finished yet: the shutdown waits for
    /// them before it stops the presence tracker, the PubSub and the loops.
    let channelInstances = OpenCount()
    /// The long-poll sessions among the open connections.
    let longPollSessionCount = Atomic<Int>(0)
    /// The once-a-second publishing of each loop's batched counts, cancelled
    /// at shutdown (the loops may outlive the server: a shared group).
    private let countPublishers: Mutex<[RepeatedTask]>
    /// Shedding and draining state; see `ServerRuntime+Operations.swift`.
    let operations = Mutex<OperationsState>(OperationsState())
    /// Closes scheduled by a shed or drain that have not run yet.
    let pendingSheds = Atomic<Int>(0)
    /// Connections closed by shedding or draining since start.
    let shedConnections = Atomic<Int>(0)
    let startedAt = ContinuousClock.now
    /// Who is present on which topic, across the cluster.
    let presence: PresenceTracker
    /// This server's metrics (see ``MetricsOptions``).
    let metrics: ServerMetrics
    /// The node-wide budget of log lines about misbehaving clients.
    let connectionErrors = ConnectionErrorLog()
    /// Every node's last report; see `ServerRuntime+Cluster.swift`.
    let clusterView: ClusterView
    /// Handlers of control messages by event, besides the cluster's own; see ``handleControl(event:_:)``.
    let controlHandlers = Mutex<[String: @Sendable (ControlMessage) -> Void]>([:])
    /// Publishes this node's report while the server takes part in the cluster.
    let clusterReporter = Mutex<Task<Void, Never>?>(nil)
    /// Set while the resource guard refuses connections; see `ServerRuntime+Policies.swift`.
    let resourceGuardEngaged = Atomic<Bool>(false)
    /// Repeated tasks of the automatic policies, cancelled at shutdown.
    let policyTasks = Mutex<[RepeatedTask]>([])
    /// The last recording of the gauges the housekeeping task started; see `stopPolicies()`.
    let gaugeRecording = Mutex<Task<Void, Never>?>(nil)

    init(configuration: ServerConfiguration, logger: Logger, adapter: any PubSubAdapter, eventLoops: [any EventLoop]) {
        self.configuration = configuration
        self.logger = logger
        self.clusterView = ClusterView(interval: configuration.clusterReportInterval)
        let metrics = ServerMetrics(factory: configuration.metrics.factory ?? MetricsSystem.factory, version: configuration.version)
        self.metrics = metrics
        let dispatchers = eventLoops.enumerated().map { index, loop in
            LoopDispatcher(eventLoop: loop, metrics: metrics, countsBroadcasts: index == 0)
        }
        // Fast-path counts reach the metrics in batches, once a second.
        self.countPublishers = Mutex(dispatchers.map { dispatcher in
            dispatcher.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                dispatcher.publishCounts()
            }
        })
        self.dispatchers = dispatchers
        self.dispatcherByLoop = Dictionary(uniqueKeysWithValues: dispatchers.map { (ObjectIdentifier($0.eventLoop), $0) })
        // Every socket of this server is on the WebSocket transport: local
        // broadcasts are serialized straight into its framing.
        self.pubsub = PubSub(adapter: adapter, dispatchers: dispatchers, logger: logger, localFraming: .webSocket)
        self.presence = PresenceTracker(pubsub: pubsub, eventLoop: dispatchers[0].eventLoop, options: configuration.presence, logger: logger)
    }

    /// The socket of an accepted client on `transport`, served by its
    /// loop's dispatcher, logging with `metadata` (the peer, the transport).
    /// Every transport makes its sockets here.
    func makeConnection(
        transport: any SocketTransport, on eventLoop: any EventLoop, accepted: AcceptedSocket, metadata: Logger.Metadata
    ) -> SocketConnection {
        let dispatcher = dispatcher(for: eventLoop)
        var logger = logger
        for (key, value) in metadata {
            logger[metadataKey: key] = value
        }
        return SocketConnection(
            transport: transport, eventLoop: eventLoop, accepted: accepted, pubsub: pubsub, presence: presence,
            dispatcher: dispatcher, limits: configuration.limits, logger: logger, channelInstances: channelInstances,
            taskExecutor: configuration.handlerExecution == .eventLoop ? dispatcher.taskExecutor : nil
        )
    }

    func dispatcher(for eventLoop: any EventLoop) -> LoopDispatcher {
        guard let dispatcher = dispatcherByLoop[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("connection on an event loop outside the server's group")
        }
        return dispatcher
    }

    /// False while draining or shutting down, or while the resource guard
    /// is engaged: new upgrades get 503 and `/readyz` fails.
    var isAcceptingSockets: Bool {
        accepting.load(ordering: .relaxed) && !resourceGuardEngaged.load(ordering: .relaxed)
    }

    func stopAcceptingSockets() {
        accepting.store(false, ordering: .relaxed)
    }

    /// Undoes ``stopAcceptingSockets()`` (an `undrain`).
    func resumeAcceptingSockets() {
        accepting.store(true, ordering: .relaxed)
    }

    var connectionCount: Int { connections.value }

    func connectionOpened() {
        connections.opened()
    }

    func connectionClosed() {
        connections.closed()
    }

    /// Waits until no connection is open, or at most `timeout`. True when
    /// none is.
    @discardableResult
    func waitForNoConnections(timeout: Duration) async -> Bool {
        await connections.waitForZero(timeout: timeout)
    }

    /// Cancels the loops' repeated count publishing (at shutdown).
    func stopCountPublishers() {
        for task in countPublishers.withLock({ tasks in defer { tasks = [] }; return tasks }) {
            task.cancel()
        }
    }
}
