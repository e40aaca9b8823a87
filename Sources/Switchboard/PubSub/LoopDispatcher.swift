import NIOCore

/// The subscribers and connections of one event loop, and the batched flush
/// of their writes. Everything here runs on that loop, so delivering a
/// broadcast takes no lock and allocates nothing per subscriber.
package final class LoopDispatcher: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Runs channel handlers of this loop's connections on the loop itself.
    let taskExecutor: EventLoopTaskExecutor
    private var topics: [String: TopicSubscribers] = [:]
    private var pendingFlush: [SocketConnection] = []
    private var flushScheduled = false
    /// A broadcast flush put off to let more broadcasts join it (see ``scheduleBroadcastFlush(_:)``).
    private var deferredFlush: Scheduled<Void>?
    /// Broadcast frames wait in ``pendingFlush``.
    private var broadcastPending = false
    private var broadcastPacing = BroadcastFlushPacing()
    private(set) var connections: [ObjectIdentifier: SocketConnection] = [:]
    /// Joined or joining channels of this loop's connections, kept by them.
    var channelCount = 0
    /// Connections closed because their client read too slowly.
    private(set) var slowConsumerCloses = 0
    /// Where ``counts`` are published.
    let metrics: ServerMetrics
    /// Whether this loop counts broadcasts (one loop does, so each counts once).
    private let countsBroadcasts: Bool
    /// Fast-path counts not yet published to ``metrics``.
    var counts = LoopCounts()

    package init(eventLoop: any EventLoop, metrics: ServerMetrics = ServerMetrics(), countsBroadcasts: Bool = true) {
        self.eventLoop = eventLoop
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.metrics = metrics
        self.countsBroadcasts = countsBroadcasts
    }

    /// Adds the counts gathered since the last call to ``metrics``. Runs on the loop.
    func publishCounts() {
        eventLoop.assertInEventLoop()
        metrics.add(counts)
        counts = LoopCounts()
    }

    // MARK: - Subscriptions

    package func subscribe(topic: String, _ subscriber: LocalSubscriber) {
        eventLoop.assertInEventLoop()
        topics[topic, default: TopicSubscribers()].insert(subscriber)
    }

    func unsubscribe(topic: String, id: SubscriberID) {
        eventLoop.assertInEventLoop()
        guard var subscribers = topics.removeValue(forKey: topic) else { return }
        subscribers.remove(id)
        if !subscribers.isEmpty {
            topics[topic] = subscribers
        }
    }

    /// Local subscriber count of a topic on this loop.
    func subscriberCount(topic: String) -> Int {
        topics[topic]?.count ?? 0
    }

    var topicCount: Int { topics.count }

    // MARK: - Delivery

    /// The fewest subscribers for which a broadcast at light load is written
    /// during delivery rather than by the loop step's flush (see ``deliver(_:)``).
    static let directWriteFanout = 64

    /// Delivers a broadcast to this loop's subscribers of its topic.
    /// Non-intercepting V2 subscribers all get the same frame: this loop's
    /// framed copy of the message the sender serialized (``BroadcastFrames``).
    func deliver(_ message: PubSubMessage) {
        eventLoop.assertInEventLoop()
        if countsBroadcasts { counts.broadcasts &+= 1 }
        guard let subscribers = topics[message.topic]?.subscribers else { return }
        let started = eventLoop.now
        // A big fan-out at light load (no flush waiting or put off) writes
        // and flushes each subscriber's frame as the loop reaches it: one
        // pass over connections whose objects are out of the CPU cache, and
        // nothing added to the latency. Otherwise frames are held for the
        // batched flush: at the end of this loop step, where broadcasts that
        // arrive together (a batch read from Redis) leave in one write per
        // connection, or later if ``BroadcastFlushPacing`` puts it off.
        let writesNow = subscribers.count >= Self.directWriteFanout
            && !flushScheduled && deferredFlush == nil && broadcastPacing.deferredUntil(now: started) == nil
        var frames = BroadcastFrames(message: message)
        var delivered = 0
        for index in subscribers.indices {
            SocketConnection.prefetch(aheadOf: index, count: subscribers.count) { subscribers[$0].fastlaneConnection }
            let subscriber = subscribers[index]
            guard subscriber.id != message.excluding else { continue }
            delivered &+= 1
            switch subscriber.target {
            case .handler(let handler):
                handler(message)
            case .fastlane(let connection):
                if let bytes = frames.bytes(for: connection) {
                    connection.writeBroadcast(bytes, now: writesNow)
                }
            case .intercepting(let instance):
                if instance.intercepts.contains(message.event) {
                    instance.enqueue(.handleOut(event: message.event, payload: message.payload))
                } else if let bytes = frames.bytes(for: instance.connection) {
                    instance.connection.writeBroadcast(bytes, now: writesNow)
                }
            }
        }
        counts.deliveries &+= delivered
        let ended = eventLoop.now
        if writesNow {
            broadcastPacing.flushed(from: started, to: ended)
        }
        metrics.fanoutTime.recordNanoseconds((ended - started).nanoseconds)
    }

    // MARK: - Writes

    /// Queues a flush of `connection` at the end of this loop step: frames
    /// written meanwhile leave in one system call.
    func scheduleFlush(_ connection: SocketConnection) {
        if !connection.flushPending {
            connection.flushPending = true
            pendingFlush.append(connection)
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute { self.flushAll() }
    }

    /// Like ``scheduleFlush(_:)``, for broadcast frames: they leave at the
    /// end of this loop step too, unless ``BroadcastFlushPacing`` puts the
    /// flush off so that more broadcasts join it (big fan-outs at saturation).
    func scheduleBroadcastFlush(_ connection: SocketConnection) {
        if !connection.flushPending {
            connection.flushPending = true
            pendingFlush.append(connection)
        }
        broadcastPending = true
        guard !flushScheduled, deferredFlush == nil else { return }
        if let due = broadcastPacing.deferredUntil(now: eventLoop.now) {
            deferredFlush = eventLoop.scheduleTask(deadline: due) { self.flushAll() }
        } else {
            flushScheduled = true
            eventLoop.execute { self.flushAll() }
        }
    }

    private func flushAll() {
        flushScheduled = false
        deferredFlush?.cancel()
        deferredFlush = nil
        let carriedBroadcasts = broadcastPending
        broadcastPending = false
        let connections = pendingFlush
        pendingFlush.removeAll(keepingCapacity: true)
        // Only broadcast flushes are timed: replies and pushes pay no clock read.
        let started = carriedBroadcasts ? eventLoop.now : nil
        let count = connections.count
        for index in 0..<count {
            SocketConnection.prefetch(aheadOf: index, count: count) { connections[$0] }
            let connection = connections[index]
            connection.flushPending = false
            connection.flush()
        }
        if let started {
            broadcastPacing.flushed(from: started, to: eventLoop.now)
        }
    }

    // MARK: - Connections

    func register(_ connection: SocketConnection) {
        eventLoop.assertInEventLoop()
        connections[ObjectIdentifier(connection)] = connection
    }

    func countSlowConsumerClose() {
        slowConsumerCloses += 1
    }

    func unregister(_ connection: SocketConnection) {
        eventLoop.assertInEventLoop()
        connections[ObjectIdentifier(connection)] = nil
    }
}

/// The frames of one broadcast on one loop, made at most once per serializer:
/// for V2 a framed copy of the sender's serialized message (one small copy
/// per broadcast and loop, so loops share no buffer and no reference count),
/// for V1 an encoding of its own.
package struct BroadcastFrames {
    private let message: PubSubMessage
    private var v2: ByteBuffer?
    private var v1: ByteBuffer?
    private var failed: Set<SerializerVersion> = []

    init(message: PubSubMessage) {
        self.message = message
    }

    /// The frame for `connection`'s serializer, made with its channel's
    /// allocator the first time it is needed.
    mutating func bytes(for connection: SocketConnection) -> ByteBuffer? {
        switch connection.version {
        case .v2:
            if v2 == nil { v2 = frame(.v2, allocator: connection.channel.allocator) }
            return v2
        case .v1:
            if v1 == nil { v1 = frame(.v1, allocator: connection.channel.allocator) }
            return v1
        }
    }

    private mutating func frame(_ version: SerializerVersion, allocator: ByteBufferAllocator) -> ByteBuffer? {
        if version == .v2, let encoded = message.encoded {
            return WebSocketFraming.frame(encoded, kind: message.encodedKind, allocator: allocator)
        }
        guard !failed.contains(version) else { return nil }
        do {
            return try Self.frame(message, version: version, allocator: allocator)
        } catch {
            // V1 cannot carry binary payloads: those subscribers miss this broadcast.
            failed.insert(version)
            return nil
        }
    }

    /// `[null, null, topic, event, payload]` as `version` serializes it, with
    /// no transport framing (``PubSubMessage/encoded``).
    package static func serialize(_ message: PubSubMessage, version: SerializerVersion, allocator: ByteBufferAllocator) throws(ProtocolError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        _ = try version.serializer.encodeServerFrame(outbound(message), into: &buffer)
        return buffer
    }

    /// `[null, null, topic, event, payload]` with its WebSocket header,
    /// encoded in place (no serialized message to copy).
    package static func frame(_ message: PubSubMessage, version: SerializerVersion, allocator: ByteBufferAllocator) throws(ProtocolError) -> ByteBuffer {
        let frame = outbound(message)
        let serializer = version.serializer
        return try WebSocketFraming.frame(allocator: allocator) { buffer throws(ProtocolError) in
            try serializer.encodeServerFrame(frame, into: &buffer)
        }
    }

    private static func outbound(_ message: PubSubMessage) -> OutboundFrame {
        .message(Message(topic: message.topic, event: message.event, payload: message.payload))
    }
}
