import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Switchboard
import Synchronization

/// Carries broadcasts between Switchboard nodes through Redis PUBLISH /
/// SUBSCRIBE, with hiredis doing the RESP work over SwiftNIO connections.
///
/// - One subscriber connection and ``RedisAdapterConfiguration/publishers``
///   publisher connections, each on an event loop of `eventLoopGroup`.
/// - `per_topic` mode SUBSCRIBEs one Redis channel per topic with local
///   subscribers (a join waits for the confirmation); `global` mode uses one
///   channel for everything. Node-direct messages use a channel per node.
/// - Each message is published once, as a ``RedisEnvelope`` that carries the
///   V2 message already serialized by the sender. Receivers skip their own.
/// - The envelope version written is the lowest one the live peers read
///   (``peersRead(wireVersion:)``), version 1 until the core says otherwise:
///   a rolling deploy never sends a node an envelope it cannot read.
/// - The first connection must succeed (``start(deliver:control:)`` throws a
///   descriptive ``RedisAdapterError``); after that, Redis going away never
///   takes the node down: connections come back with backoff and jitter,
///   every subscription is redone, and broadcasts meanwhile are dropped and
///   counted, or kept in the outage buffer and replayed in order.
/// - On a Redis Cluster (`redis+cluster://`), `per_topic` mode uses sharded
///   pub/sub through ``RedisClusterShards`` (one subscriber connection and
///   the publishers per master, `SSUBSCRIBE`/`SPUBLISH` on the master of each
///   channel's slot); `global` mode uses classic pub/sub through one node,
///   the seeds tried in turn, which the cluster forwards to every node.
///
/// ```swift
/// let adapter = RedisAdapter(configuration: .init(url: try RedisURL("redis://127.0.0.1:6379"), nodeName: "a"))
/// let server = SwitchboardServer(configuration: config, endpoints: [BuiltIn.endpoint()], adapter: adapter)
/// try await server.start()
/// ```
public final class RedisAdapter: PubSubAdapter {
    public let configuration: RedisAdapterConfiguration
    public var nodeName: String { configuration.nodeName }

    /// Random per process, in every envelope: tells this process's own
    /// messages from those of another process with the same node name.
    let instance = UInt64.random(in: 1 ... .max)

    private enum Lifecycle {
        case idle, starting, running, stopped
    }

    private let lifecycle = NIOLockedValueBox(Lifecycle.idle)
    /// The connections of one server (plain, Sentinel, or a cluster in
    /// global mode); empty with ``shards``.
    private let publishers: [RedisPublisher]
    private let subscriber: RedisSubscriber?
    /// Per-topic mode on a Redis Cluster: the shards.
    private let shards: RedisClusterShards?
    private let inbound: RedisInbound
    private let probe: RedisProbe?
    private let board: RedisStatusBoard
    /// For a `redis+sentinel://` URL: follows failovers.
    private let sentinelWatcher: RedisSentinelWatcher?
    private let tally = RedisAdapterCounters()
    /// The outage buffer's room, shared by every publisher connection.
    private let outageBudget: RedisOutageBudget
    private let logger: Logger
    /// The envelope version this node writes (see ``peersRead(wireVersion:)``).
    private let writtenVersion = Atomic<UInt8>(RedisEnvelope.oldestVersion)

    public init(
        configuration: RedisAdapterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "switchboard.redis")
    ) {
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.nodeName)"
        self.configuration = configuration
        self.logger = logger
        let discovery = configuration.url.sentinel.map { group in
            RedisSentinelDiscovery(
                group: group, username: configuration.sentinelUsername, password: configuration.sentinelPassword,
                connectTimeout: configuration.connectTimeout,
                clientName: "switchboard:\(configuration.nodeName)".filter { !$0.isWhitespace }, logger: logger
            )
        }
        let budget = RedisOutageBudget(maxMessages: configuration.outageBuffer, maxBytes: configuration.outageBufferBytes)
        self.outageBudget = budget
        let board = RedisStatusBoard(configuration: configuration, discovery: discovery, budget: budget, logger: logger)
        self.board = board
        let counters = self.tally
        let limits = HiredisReader.Limits(maxReplyBytes: configuration.maxMessageSize + 4096)
        func settings(_ role: String, accessCheck: RedisAccessCheck) -> RedisConnector.Settings {
            RedisConnector.Settings(
                url: configuration.url,
                connectTimeout: configuration.connectTimeout,
                limits: limits,
                clientName: "switchboard:\(configuration.nodeName):\(role)".filter { !$0.isWhitespace },
                tls: configuration.tls,
                accessCheck: accessCheck,
                discovery: discovery
            )
        }
        let prefix = configuration.channelPrefix
        let publishCheck = RedisAccessCheck.publish(channel: configuration.publishCheckChannel.description, prefix: prefix)
        let subscribeCheck = RedisAccessCheck.subscribe(channel: configuration.subscribeCheckChannel.description, prefix: prefix)
        let subscriberLoop = eventLoopGroup.next()
        let numbering = RedisProbe.Numbering()
        let instance = self.instance
        let inbound = RedisInbound(
            eventLoop: subscriberLoop, nodeName: configuration.nodeName, instance: instance, mode: configuration.mode,
            limits: Self.envelopeLimits, board: board, counters: counters, logger: logger
        )
        self.inbound = inbound
        if configuration.url.cluster != nil, configuration.mode == .perTopic {
            let clusterDiscovery = RedisClusterDiscovery(
                url: configuration.url, tls: configuration.tls, connectTimeout: configuration.connectTimeout,
                clientName: "switchboard:\(configuration.nodeName)".filter { !$0.isWhitespace }, logger: logger
            )
            let publisherCount = max(1, configuration.publishers)
            let shardedPublishCheck = RedisAccessCheck.publish(channel: configuration.publishCheckChannel.description, prefix: prefix, sharded: true)
            let shardedSubscribeCheck = RedisAccessCheck.subscribe(channel: configuration.subscribeCheckChannel.description, prefix: prefix, sharded: true)
            let shards = RedisClusterShards(
                discovery: clusterDiscovery, configuration: configuration, eventLoop: subscriberLoop, board: board, counters: counters, logger: logger,
                makeShard: { master in
                    func shardSettings(_ role: String, accessCheck: RedisAccessCheck) -> RedisConnector.Settings {
                        var resolved = settings(role, accessCheck: accessCheck)
                        resolved.url = configuration.url.pointing(to: master)
                        return resolved
                    }
                    let subscriber = RedisSubscriber(
                        role: "shard \(master) subscriber", kind: .sharded,
                        settings: shardSettings("sub", accessCheck: shardedSubscribeCheck), configuration: configuration,
                        eventLoop: subscriberLoop, board: board, counters: counters, logger: logger,
                        onMessage: { channel, payload in inbound.received(channel: channel, payload: payload) }
                    )
                    let publishers = (0..<publisherCount).map { index in
                        let publisher = RedisPublisher(
                            role: "shard \(master) publisher \(index)", sharded: true,
                            settings: shardSettings("pub\(index)", accessCheck: shardedPublishCheck), configuration: configuration,
                            eventLoop: eventLoopGroup.next(), board: board, counters: counters, budget: budget, logger: logger
                        )
                        publisher.firstSettleDelay = configuration.clusterSwitchDelay
                        return publisher
                    }
                    let probe = RedisProbe(
                        subscriber: subscriber, publishers: publishers, channel: nil, configuration: configuration,
                        instance: instance, numbering: numbering, counters: counters, logger: logger
                    )
                    return RedisShard(address: master, subscriber: subscriber, publishers: publishers, probe: probe)
                }
            )
            shards.wireHints()
            self.shards = shards
            self.publishers = []
            self.subscriber = nil
            self.probe = nil
            self.sentinelWatcher = nil
            subscriberLoop.execute {
                inbound.onProbe = { sequence in shards.probeReturned(sequence) }
            }
            return
        }
        self.shards = nil
        self.publishers = (0..<max(1, configuration.publishers)).map { index in
            RedisPublisher(
                index: index, settings: settings("pub\(index)", accessCheck: publishCheck), configuration: configuration,
                eventLoop: eventLoopGroup.next(), board: board, counters: counters, budget: budget, logger: logger
            )
        }
        let subscriber = RedisSubscriber(
            settings: settings("sub", accessCheck: subscribeCheck), configuration: configuration, eventLoop: subscriberLoop,
            board: board, counters: counters, logger: logger,
            onMessage: { channel, payload in inbound.received(channel: channel, payload: payload) }
        )
        self.subscriber = subscriber
        let probe = RedisProbe(
            subscriber: subscriber, publishers: publishers, channel: configuration.nodeChannel(configuration.nodeName),
            configuration: configuration, instance: instance, numbering: numbering, counters: counters, logger: logger
        )
        self.probe = probe
        if let discovery {
            let publishers = self.publishers
            let grace = TimeAmount(configuration.sentinelSwitchGrace)
            // Subscribers leave the old master after the publishers (which
            // then wait the replay delay before publishing on the new one):
            // whatever is published on either master meets every subscriber.
            let subscriberLag = TimeAmount(configuration.outageReplayDelay / 3)
            self.sentinelWatcher = RedisSentinelWatcher(
                discovery: discovery, eventLoop: subscriberLoop, backoff: configuration.reconnectBackoff, logger: logger,
                onSwitch: { master in
                    subscriberLoop.scheduleTask(in: grace) {
                        for publisher in publishers { publisher.leave(unlessConnectedTo: master) }
                    }
                    subscriberLoop.scheduleTask(in: grace + subscriberLag) {
                        subscriber.leave(unlessConnectedTo: master)
                    }
                }
            )
        } else {
            self.sentinelWatcher = nil
        }
        subscriberLoop.execute {
            inbound.onProbe = { sequence in probe.returned(sequence) }
        }
    }

    // MARK: - Lifecycle

    public func start(
        deliver: @escaping @Sendable (PubSubMessage) -> Void,
        control: @escaping @Sendable (ControlMessage) -> Void
    ) async throws {
        let startable = lifecycle.withLockedValue { state -> Bool in
            guard case .idle = state else { return false }
            state = .starting
            return true
        }
        guard startable else { throw RedisAdapterError.notStartable }
        do {
            try Self.validate(configuration)
            let logger = self.logger
            if configuration.url.tls, configuration.tls.insecureSkipVerification {
                logger.warning(
                    "REDIS TLS VERIFICATION IS OFF (tls.insecure): the connection to \(configuration.url.endpoint) is encrypted but any server is accepted as Redis; use this for tests only"
                )
            }
            try await inbound.start { message in
                guard message.topic == Self.controlTopic else { return deliver(message) }
                guard case .json(let payload) = message.payload else {
                    logger.warning("ignoring a control message that is not JSON", metadata: ["from": "\(message.originNode)"])
                    return
                }
                control(ControlMessage(event: message.event, payload: payload, originNode: message.originNode))
            }.get()
            if let shards {
                // Recorded now, placed on their shards once the slot map is read.
                _ = shards.subscribe(configuration.nodeChannel(nodeName).description, timeout: configuration.connectTimeout)
                _ = shards.subscribe(configuration.topicChannel(Self.controlTopic).description, timeout: configuration.connectTimeout)
                try await shards.start().get()
            } else if let subscriber {
                // Recorded now, subscribed by the subscriber's first connection.
                _ = subscriber.subscribe(configuration.nodeChannel(nodeName).description, timeout: configuration.connectTimeout)
                switch configuration.mode {
                case .perTopic:
                    _ = subscriber.subscribe(configuration.topicChannel(Self.controlTopic).description, timeout: configuration.connectTimeout)
                case .global:
                    _ = subscriber.subscribe(configuration.globalChannel.description, timeout: configuration.connectTimeout)
                    try await inbound.addTopic(Self.controlTopic).get()
                }
                let eventLoop = subscriber.eventLoop
                let starts = publishers.map { $0.start() } + [subscriber.start()]
                let results = try await EventLoopFuture.whenAllComplete(starts, on: eventLoop).get()
                for case .failure(let error) in results {
                    throw error
                }
            }
        } catch {
            lifecycle.withLockedValue { $0 = .stopped }
            await stopConnections()
            throw error
        }
        probe?.start()
        sentinelWatcher?.start()
        lifecycle.withLockedValue { $0 = .running }
        let connections = shards.map { "sharded pub/sub, \($0.allPublishers.count) publisher connection(s) over the shards" }
            ?? "\(publishers.count) publisher connection(s)"
        logger.notice(
            "redis pubsub ready: node \(nodeName), \(configuration.url), mode \(configuration.mode.rawValue), \(connections), channel prefix \(configuration.channelPrefix)"
        )
    }

    public func shutdown() async {
        let wasRunning = lifecycle.withLockedValue { state -> Bool in
            defer { state = .stopped }
            if case .stopped = state { return false }
            return true
        }
        guard wasRunning else { return }
        await stopConnections()
        logger.info("redis pubsub stopped")
    }

    /// Unsubscribes: from then on, a message for this node reaches no one,
    /// and a node that sends one directly hears so at once (Redis counts no
    /// receiver). The publishers stay until ``shutdown()``.
    public func stopReceiving() async {
        try? await probe?.stop().get()
        try? await subscriber?.shutdown().get()
        try? await shards?.stopReceiving().get()
        try? await inbound.stop().get()
    }

    private func stopConnections() async {
        try? await sentinelWatcher?.stop().get()
        await stopReceiving()
        for publisher in publishers {
            try? await publisher.shutdown().get()
        }
        try? await shards?.shutdown().get()
    }

    private static func validate(_ configuration: RedisAdapterConfiguration) throws(RedisAdapterError) {
        func isName(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= 255 && !text.contains(where: { $0.isWhitespace || $0.isNewline })
        }
        guard isName(configuration.nodeName) else {
            throw .invalidConfiguration("node name \"\(configuration.nodeName)\": expected 1 to 255 characters without spaces")
        }
        guard isName(configuration.channelPrefix) else {
            throw .invalidConfiguration("channel prefix \"\(configuration.channelPrefix)\": expected 1 to 255 characters without spaces")
        }
        guard (1...64).contains(configuration.publishers) else {
            throw .invalidConfiguration("publishers \(configuration.publishers): expected 1 to 64")
        }
        guard configuration.connectTimeout > .zero, configuration.probeInterval > .zero, configuration.probeTimeout > .zero else {
            throw .invalidConfiguration("timeouts and intervals must be above zero")
        }
        if !configuration.url.tls, configuration.tls.isCustomized {
            throw .invalidConfiguration("TLS settings (tls.*) are set but the URL \(configuration.url) is not TLS; use rediss:// to connect with TLS")
        }
        if configuration.tls.insecureSkipVerification, configuration.tls.caFile != nil || configuration.tls.serverName != nil {
            throw .invalidConfiguration("tls.insecure turns off the certificate checks that tls.ca_file and tls.server_name configure; set one or the other")
        }
        guard configuration.clusterRefreshInterval > .zero, configuration.clusterSwitchDelay >= .zero else {
            throw .invalidConfiguration("cluster refresh interval and switch delay: expected above zero, and zero or more")
        }
        guard configuration.outageBuffer >= 0 else {
            throw .invalidConfiguration("outage buffer \(configuration.outageBuffer): expected 0 or more")
        }
        guard configuration.outageBuffer == 0 || configuration.outageBufferBytes > 0 else {
            throw .invalidConfiguration("outage buffer bytes \(configuration.outageBufferBytes): expected above zero")
        }
        guard configuration.roleCheckInterval >= .zero else {
            throw .invalidConfiguration("role check interval: expected zero (off) or more")
        }
    }

    // MARK: - Publishing

    public func broadcast(_ message: PubSubMessage) async throws {
        try checkPublishable(message)
        let channel = configuration.mode == .global ? configuration.globalChannel : configuration.topicChannel(message.topic)
        guard let publisher = publisher(for: message.topic, channel: channel) else {
            tally.dropped.bump()
            return
        }
        // At-most-once: a message Redis cannot take now is counted, not thrown,
        // so the local delivery that already happened stands.
        _ = RedisEnvelope.withEncoded(version: envelopeVersion, .broadcast, message, instance: instance, channel: channel) { channel, envelope in
            publisher.publish(channel: channel, message: envelope)
        }
    }

    public func directBroadcast(to node: String, _ message: PubSubMessage) async throws {
        try checkPublishable(message)
        guard let publisher = publisher(for: message.topic, channel: configuration.nodeChannel(node)) else {
            tally.dropped.bump()
            throw PubSubError.unavailable("the Redis Cluster slot of \(node)'s channel has no master now; the message for \(node) was dropped")
        }
        let reply = publisher.eventLoop.makePromise(of: RedisValue.self)
        let outcome = RedisEnvelope.withEncoded(version: envelopeVersion, .direct, message, instance: instance, channel: configuration.nodeChannel(node)) { channel, envelope in
            publisher.publish(channel: channel, message: envelope, reply: reply)
        }
        switch outcome {
        case .sent:
            let receivers: RedisValue
            do {
                receivers = try await reply.futureResult.get()
            } catch {
                throw PubSubError.unavailable("the connection to Redis was lost before it took the message for \(node): \(error)")
            }
            if case .integer(0) = receivers {
                throw PubSubError.unknownNode(node)
            }
        case .buffered:
            return
        case .dropped:
            throw PubSubError.unavailable("Redis at \(configuration.url.endpoint) is unreachable; the message for \(node) was dropped")
        }
    }

    // MARK: - Control messages

    /// The topic that control messages travel as: every release reads and
    /// writes them as broadcasts of this topic (older releases had the core
    /// use it as a reserved topic), so it stays, and no client may use it.
    static let controlTopic = "switchboard:cluster"

    public var reservedTopics: Set<String> { [Self.controlTopic] }

    public func sendControl(_ message: ControlMessage, to node: String?) async throws {
        var encoded = ByteBuffer()
        let payload = Payload.json(message.payload)
        _ = try V2Serializer().encodeServerFrame(.message(Message(topic: Self.controlTopic, event: message.event, payload: payload)), into: &encoded)
        let carried = PubSubMessage(topic: Self.controlTopic, event: message.event, payload: payload, originNode: message.originNode, encoded: encoded)
        if let node {
            try await directBroadcast(to: node, carried)
        } else {
            try await broadcast(carried)
        }
    }

    /// What a node accepts in an envelope from another.
    private static let envelopeLimits = DecodingLimits.default

    /// Refuses a message the other nodes would drop as malformed (a topic or
    /// event over ``envelopeLimits``), counted as dropped.
    private func checkPublishable(_ message: PubSubMessage) throws(PubSubError) {
        let limits = Self.envelopeLimits
        guard message.topic.utf8.count <= limits.maxTopicLength, message.event.utf8.count <= limits.maxEventLength else {
            tally.dropped.bump()
            throw .notPublishable(
                "topic of \(message.topic.utf8.count) bytes, event of \(message.event.utf8.count) bytes: other nodes accept at most \(limits.maxTopicLength) and \(limits.maxEventLength)"
            )
        }
    }

    /// The bytes one broadcast of `message` takes in Redis (the envelope), for
    /// sizing and benchmarks.
    public static func envelopeSize(of message: PubSubMessage) -> Int {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        RedisEnvelope(version: RedisEnvelope.latestVersion, kind: .broadcast, message: message, instance: 1).encode(into: &buffer)
        return buffer.readableBytes
    }

    // MARK: - Envelope version

    /// The newest envelope version this node reads; its node reports it to
    /// the others as `wire_version`.
    public var wireVersion: Int { Int(RedisEnvelope.latestVersion) }

    /// The core's word on the lowest envelope version that every live peer
    /// reads (from their reports). From then on this node writes that
    /// version, or its own newest if lower; before the first call it writes
    /// version 1, which every node reads.
    public func peersRead(wireVersion: Int) {
        let version = UInt8(clamping: min(max(wireVersion, Int(RedisEnvelope.oldestVersion)), Int(RedisEnvelope.latestVersion)))
        let previous = writtenVersion.exchange(version, ordering: .relaxed)
        if previous != version {
            logger.notice("redis pubsub: writing envelope version \(version) (was \(previous)), the lowest that the live nodes read")
        }
    }

    /// The envelope version written now.
    var envelopeVersion: UInt8 {
        writtenVersion.load(ordering: .relaxed)
    }

    /// The publisher connection for `topic`'s messages on `channel`: one
    /// of the server's, or on a cluster the owning shard's (`nil` while the
    /// slot has no master).
    private func publisher(for topic: String, channel: RedisChannelName) -> RedisPublisher? {
        if let shards {
            return shards.publisher(channel: channel, topic: topic)
        }
        guard publishers.count > 1 else { return publishers[0] }
        var hasher = Hasher()
        hasher.combine(topic)
        return publishers[Int(UInt(bitPattern: hasher.finalize()) % UInt(publishers.count))]
    }

    // MARK: - Subscriptions

    public func topicActivated(_ topic: String) async throws {
        switch configuration.mode {
        case .perTopic:
            // Completes once Redis confirmed, or at once while Redis is away
            // (the topic is subscribed on reconnect): never throws, never hangs.
            let channel = configuration.topicChannel(topic).description
            if let shards {
                try? await shards.subscribe(channel, timeout: configuration.connectTimeout).get()
            } else {
                try? await subscriber?.subscribe(channel, timeout: configuration.connectTimeout).get()
            }
        case .global:
            try? await inbound.addTopic(topic).get()
        }
    }

    public func topicDeactivated(_ topic: String) async {
        switch configuration.mode {
        case .perTopic:
            let channel = configuration.topicChannel(topic).description
            if let shards {
                shards.unsubscribe(channel)
            } else {
                subscriber?.unsubscribe(channel)
            }
        case .global:
            inbound.removeTopic(topic)
        }
    }

    // MARK: - State

    /// `connected`, `connecting`, `reconnecting` or `stopped`, with a detail
    /// that says since when and why, and a loud line when another process
    /// uses this node's name.
    public var status: AdapterStatus {
        board.status
    }

    /// On a Redis Cluster in per-topic mode: each master in use and how many
    /// of this node's channels are subscribed on it; empty otherwise.
    public func shardChannels() async -> [RedisHostPort: Int] {
        guard let shards else { return [:] }
        return (try? await shards.placement.get()) ?? [:]
    }

    /// The adapter's counters.
    public var statistics: RedisAdapterStatistics {
        var statistics = tally.snapshot
        let buffered = outageBudget.current
        statistics.outageBufferMessages = buffered.messages
        statistics.outageBufferBytes = buffered.bytes
        return statistics
    }

    /// The totals `/metrics` reports (`switchboard_pubsub_*_total`), and what
    /// the outage buffer holds now (`switchboard_pubsub_buffered_*`).
    public var counters: PubSubAdapterCounters {
        let statistics = self.statistics
        return PubSubAdapterCounters(
            published: statistics.published, received: statistics.received,
            dropped: statistics.dropped, reconnects: statistics.reconnects,
            bufferedMessages: statistics.outageBufferMessages, bufferedBytes: statistics.outageBufferBytes
        )
    }
}
