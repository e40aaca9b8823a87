import NIOCore

/// One event loop's share of the node: the subscribers of each topic and
/// the fan-out of broadcasts to them, with the loop's batched flush
/// (``FlushScheduler``), its sockets (``LoopConnections``) and its counts.
/// Everything here runs on that loop, so delivering a broadcast takes no
/// lock and allocates nothing per subscriber.
package final class LoopDispatcher: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Runs channel handlers of this loop's connections on the loop itself.
    let taskExecutor: EventLoopTaskExecutor
    private var topics: [String: TopicSubscribers] = [:]
    /// The batched flush of this loop's connections.
    let flusher: FlushScheduler
    /// This loop's sockets.
    var connections = LoopConnections()
    /// Where ``counts`` are published.
    let metrics: ServerMetrics
    /// Whether this loop counts broadcasts (one loop does, so each counts once).
    private let countsBroadcasts: Bool
    /// Fast-path counts not yet published to ``metrics``.
    var counts = LoopCounts()

    package init(eventLoop: any EventLoop, metrics: ServerMetrics = ServerMetrics(), countsBroadcasts: Bool = true) {
        self.eventLoop = eventLoop
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.flusher = FlushScheduler(eventLoop: eventLoop)
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
    /// Non-intercepting subscribers of one serializer and transport framing
    /// all get the same bytes: this loop's wrapped copy of the message the
    /// sender serialized (``BroadcastFrames``).
    func deliver(_ message: PubSubMessage) {
        eventLoop.assertInEventLoop()
        if countsBroadcasts { counts.broadcasts &+= 1 }
        guard let subscribers = topics[message.topic]?.subscribers else { return }
        let started = eventLoop.now
        flusher.broadcastArrived(now: started)
        // A big fan-out at light load (no flush waiting or put off) writes
        // and flushes each subscriber's message as the loop reaches it: one
        // pass over connections whose objects are out of the CPU cache, and
        // nothing added to the latency. Otherwise messages are held for the
        // batched flush: at the end of this loop step, where broadcasts that
        // arrive together (a batch read from Redis) leave in one write per
        // connection, or later if ``BroadcastFlushPacing`` puts it off.
        let writesNow = subscribers.count >= Self.directWriteFanout && flusher.isIdle(now: started)
        let cpuAtStart = writesNow ? ThreadCPUClock.now() : .zero
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
            flusher.flushedDirectly(from: started, to: ended, cpu: ThreadCPUClock.now() - cpuAtStart)
        }
        metrics.fanoutTime.recordNanoseconds((ended - started).nanoseconds)
    }
}
