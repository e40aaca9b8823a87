import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Topic-based publish/subscribe for this node and, through its adapter, the
/// cluster. Local delivery is immediate; remote delivery is at-most-once.
public final class PubSub: Sendable {
    private let adapter: any PubSubAdapter
    private let dispatchers: [LoopDispatcher]
    private let activations = NIOLockedValueBox(Activations())
    private let allocator = ByteBufferAllocator()
    private let logger: Logger
    /// The framing of this node's transports, if they share one: local
    /// broadcasts are serialized straight into it (see ``makeMessage(topic:event:payload:)``).
    private let localFraming: MessageFraming?
    /// Receives other nodes' control messages while this node is in the cluster.
    private let controlHandler = Mutex<(@Sendable (ControlMessage) -> Void)?>(nil)
    /// The adapter's ``PubSubAdapter/reservedTopics``, read once.
    private let reservedTopics: Set<String>

    /// Per topic: how many local subscribers hold it, and the adapter
    /// subscription that they wait for.
    /// Adapter subscriptions: the topics held locally, and the unsubscribes
    /// still under way (a new subscribe of the topic waits for them).
    private struct Activations {
        var topics: [String: TopicActivation] = [:]
        var pendingDeactivations: [String: Task<Void, Never>] = [:]
    }

    private struct TopicActivation {
        var holders: Int
        var ready: Task<Void, Never>
    }

    package init(adapter: any PubSubAdapter, dispatchers: [LoopDispatcher], logger: Logger, localFraming: MessageFraming? = nil) {
        self.adapter = adapter
        self.reservedTopics = adapter.reservedTopics
        self.localFraming = localFraming
        self.dispatchers = dispatchers
        self.logger = logger
    }

    /// This node's name.
    public var nodeName: String { adapter.nodeName }

    /// The adapter's state, for health checks.
    public var adapterStatus: AdapterStatus { adapter.status }

    /// The adapter's totals, for metrics.
    public var adapterCounters: PubSubAdapterCounters { adapter.counters }

    /// The newest version of the adapter's wire format that this node reads.
    var wireVersion: Int { adapter.wireVersion }

    /// Tells the adapter the wire version to write (``PubSubAdapter/peersRead(wireVersion:)``).
    func peersRead(wireVersion: Int) {
        adapter.peersRead(wireVersion: wireVersion)
    }

    func start() async throws {
        try await adapter.start(
            deliver: { [weak self] message in self?.dispatchLocally(message) },
            control: { [weak self] message in self?.controlHandler.withLock { $0 }?(message) }
        )
    }

    func shutdown() async {
        await adapter.shutdown()
    }

    /// Takes nothing more from other nodes; ``shutdown()`` follows
    /// (``PubSubAdapter/stopReceiving()``).
    func stopReceiving() async {
        await adapter.stopReceiving()
    }

    // MARK: - Publishing

    /// Sends an event to every subscriber of `topic` on every node.
    public func broadcast(topic: String, event: String, payload: Payload) async throws {
        let message = try makeMessage(topic: topic, event: event, payload: payload)
        dispatchLocally(message)
        try await adapter.broadcast(message)
    }

    /// Like ``broadcast(topic:event:payload:)``, but skips the local subscriber `sender`.
    public func broadcastFrom(_ sender: SubscriberID, topic: String, event: String, payload: Payload) async throws {
        var message = try makeMessage(topic: topic, event: event, payload: payload)
        message.excluding = sender
        dispatchLocally(message)
        message.excluding = nil
        try await adapter.broadcast(message)
    }

    /// Sends an event to this node's subscribers of `topic` only.
    public func localBroadcast(topic: String, event: String, payload: Payload) throws {
        dispatchLocally(try makeMessage(topic: topic, event: event, payload: payload))
    }

    /// Sends an event to the subscribers of `topic` on the node named `node` only.
    public func directBroadcast(to node: String, topic: String, event: String, payload: Payload) async throws {
        let message = try makeMessage(topic: topic, event: event, payload: payload)
        if node == nodeName {
            dispatchLocally(message)
        } else {
            try await adapter.directBroadcast(to: node, message)
        }
    }

    /// Serializes the message once. With a ``localFraming`` it is serialized
    /// straight into that framing, and ``PubSubMessage/encoded`` is the same
    /// storage without the framing.
    private func makeMessage(topic: String, event: String, payload: Payload) throws -> PubSubMessage {
        guard !isReserved(topic) else { throw PubSubError.reserved(topic) }
        var message = PubSubMessage(topic: topic, event: event, payload: payload, originNode: nodeName)
        let framing = localFraming ?? .plain
        let wrapped = try framing.encode(BroadcastFrames.outbound(message), V2Serializer(), allocator)
        message.encoded = framing.unwrap(wrapped)
        if localFraming != nil {
            message.wrapped = (framing.id, wrapped)
        }
        return message
    }

    /// Hands a message to every event loop's dispatcher.
    /// Each loop writes its own framed copy of ``PubSubMessage/encoded``
    /// (``BroadcastFrames``): a fan-out retains and releases its frame once
    /// per subscriber, and one reference count shared by loops on different
    /// cores would bounce between their caches.
    ///
    /// Called on one of the loops (a message from Redis, a broadcast from a
    /// channel), that loop's share is delivered last: the other loops start
    /// on their own cores meanwhile, instead of after it.
    func dispatchLocally(_ message: PubSubMessage) {
        var unwrapped = message
        unwrapped.wrapped = nil
        for (index, dispatcher) in dispatchers.enumerated() where !dispatcher.eventLoop.inEventLoop {
            let message = index == 0 ? message : unwrapped
            dispatcher.eventLoop.execute { dispatcher.deliver(message) }
        }
        for (index, dispatcher) in dispatchers.enumerated() where dispatcher.eventLoop.inEventLoop {
            dispatcher.deliver(index == 0 ? message : unwrapped)
        }
    }

    // MARK: - Subscribing

    /// Calls `handler` (on an event loop; keep it short) for every message on
    /// `topic` that reaches this node. Returns once remote messages will arrive.
    public func subscribe(_ topic: String, handler: @escaping @Sendable (PubSubMessage) -> Void) async -> PubSubSubscription {
        let subscription = PubSubSubscription(topic: topic, id: .next(), dispatcher: dispatchers[Int.random(in: dispatchers.indices)])
        await acquire(topic)
        try? await subscription.dispatcher.eventLoop.submit {
            subscription.dispatcher.subscribe(topic: topic, LocalSubscriber(id: subscription.id, target: .handler(handler)))
        }.get()
        return subscription
    }

    /// Ends a subscription made with ``subscribe(_:handler:)``.
    public func unsubscribe(_ subscription: PubSubSubscription) async {
        try? await subscription.dispatcher.eventLoop.submit {
            subscription.dispatcher.unsubscribe(topic: subscription.topic, id: subscription.id)
        }.get()
        await release(subscription.topic)
    }

    /// Takes a hold on `topic`; the first hold subscribes the adapter and
    /// every hold waits until that subscription is in place.
    func acquire(_ topic: String) async {
        let ready = activations.withLockedValue { state -> Task<Void, Never> in
            if var activation = state.topics[topic] {
                activation.holders += 1
                state.topics[topic] = activation
                return activation.ready
            }
            let adapter = self.adapter
            let logger = self.logger
            // After any unsubscribe of the same topic still under way, so the
            // adapter sees the two in the order they happened here.
            let previous = state.pendingDeactivations[topic]
            let ready = Task {
                await previous?.value
                do {
                    try await adapter.topicActivated(topic)
                } catch {
                    logger.error("pubsub subscribe failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            }
            state.topics[topic] = TopicActivation(holders: 1, ready: ready)
            return ready
        }
        await ready.value
    }

    /// Releases a hold; the last one unsubscribes the adapter, once its
    /// subscription has completed.
    func release(_ topic: String) async {
        let deactivation = activations.withLockedValue { state -> Task<Void, Never>? in
            guard var activation = state.topics[topic] else { return nil }
            activation.holders -= 1
            if activation.holders > 0 {
                state.topics[topic] = activation
                return nil
            }
            state.topics[topic] = nil
            let adapter = self.adapter
            let subscribed = activation.ready
            let deactivation = Task {
                await subscribed.value
                await adapter.topicDeactivated(topic)
            }
            state.pendingDeactivations[topic] = deactivation
            return deactivation
        }
        guard let deactivation else { return }
        await deactivation.value
        activations.withLockedValue { state in
            if state.pendingDeactivations[topic] == deactivation {
                state.pendingDeactivations[topic] = nil
            }
        }
    }

    /// Topics with at least one local subscriber.
    public var activeTopicCount: Int {
        activations.withLockedValue { $0.topics.count }
    }

    /// Whether `topic` is one the adapter cannot carry
    /// (``PubSubAdapter/reservedTopics``): no client may join or broadcast on it.
    func isReserved(_ topic: String) -> Bool {
        !reservedTopics.isEmpty && reservedTopics.contains(topic)
    }

    // MARK: - Node-to-node traffic

    /// Sends other nodes' control messages to `handler` (on an event loop;
    /// keep it short) until ``leaveCluster()``.
    func joinCluster(handler: @escaping @Sendable (ControlMessage) -> Void) {
        controlHandler.withLock { $0 = handler }
    }

    func leaveCluster() {
        controlHandler.withLock { $0 = nil }
    }

    /// Sends a control message to every other node, or to the node named `node` only.
    func sendControl(event: String, payload: JSONValue, to node: String? = nil) async throws {
        try await adapter.sendControl(ControlMessage(event: event, payload: payload, originNode: nodeName), to: node)
    }
}

/// A handler subscription made with ``PubSub/subscribe(_:handler:)``.
public struct PubSubSubscription: Sendable {
    public let topic: String
    let id: SubscriberID
    let dispatcher: LoopDispatcher
}
