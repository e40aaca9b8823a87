import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One publisher connection: `PUBLISH`es from any thread, pipelined and
/// written in batches, with reconnect on loss and the outage buffer.
///
/// Publishing appends the formatted command to a batch under a lock and,
/// when the batch was empty, schedules one flush on the connection's event
/// loop; everything published meanwhile leaves in that one write. Replies are
/// matched in order by the ``RedisCommandHandler``; nobody waits for a
/// broadcast's reply, which is only counted.
///
/// While the connection is down, messages go to the outage buffer (if it has
/// room) or are dropped and counted. After a reconnect the buffer is replayed
/// in order, before anything newer — but only after
/// ``RedisAdapterConfiguration/outageReplayDelay``: the other nodes come back
/// at random moments within their reconnect backoff, and a message replayed
/// before their subscribers are back would reach nobody. Until then new
/// messages join the buffer.
final class RedisPublisher: @unchecked Sendable {
    /// What became of one publish.
    enum Outcome: Sendable, Equatable {
        /// Queued on the live connection.
        case sent
        /// Kept in the outage buffer for the reconnect.
        case buffered
        /// Not published (no connection, buffer full, too many in flight).
        case dropped
    }

    /// Where the connection is. Guarded by `lock`.
    private enum State {
        /// Not started yet.
        case idle
        /// The first connection is being made.
        case connecting
        /// Live: publishes are batched onto `channel`.
        case connected(any Channel)
        /// Reconnected with messages in the outage buffer, waiting for the
        /// other nodes to resubscribe before replaying them; publishes join the buffer.
        case settling(any Channel)
        /// Lost: reconnecting with backoff, publishes buffered or dropped.
        case reconnecting(attempt: Int)
        /// Shut down.
        case stopped
    }

    let role: String
    let eventLoop: any EventLoop
    private let settings: RedisConnector.Settings
    private let configuration: RedisAdapterConfiguration
    private let board: RedisStatusBoard
    private let counters: RedisAdapterCounters
    private let logger: Logger

    private let lock = NIOLock()
    // Guarded by `lock`:
    private var state = State.idle
    /// Commands not yet handed to the channel.
    private var batch: ByteBuffer
    private var batchReplies: [RedisReplySlot] = []
    private var flushScheduled = false
    /// Publishes queued or written and not yet answered on this connection.
    private var inFlight = 0
    private var overloaded = false
    private var outage: CircularBuffer<ByteBuffer>
    /// Identifies the current connection, so replies of an old one are ignored.
    private var generation = 0

    // On `eventLoop`:
    private var reconnectTask: Scheduled<Void>?
    private var load = PublishLoad()

    init(
        index: Int,
        settings: RedisConnector.Settings,
        configuration: RedisAdapterConfiguration,
        eventLoop: any EventLoop,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        logger: Logger
    ) {
        self.role = "publisher \(index)"
        self.settings = settings
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.board = board
        self.counters = counters
        self.logger = logger
        self.batch = ByteBufferAllocator().buffer(capacity: 4096)
        self.outage = CircularBuffer(initialCapacity: min(configuration.outageBuffer, 1024))
    }

    // MARK: - Publishing

    /// `PUBLISH channel message`. `reply`, if given, gets Redis's answer (the
    /// number of receivers), or fails if the message was not sent on a live
    /// connection. Only `bufferable` messages go to the outage buffer.
    func publish(
        channel: ByteBuffer,
        message: ByteBuffer,
        reply: EventLoopPromise<RedisValue>? = nil,
        bufferable: Bool = true
    ) -> Outcome {
        let (outcome, flushOn) = RedisCommand.withPublish(channel: channel, message: message) { command in
            lock.withLock { () -> (Outcome, (any Channel)?) in
                switch state {
                case .connected(let connection):
                    guard inFlight < configuration.maxPublishesInFlight else {
                        if !overloaded {
                            overloaded = true
                            logger.warning("redis \(role): \(inFlight) publishes unanswered; dropping new ones until Redis catches up")
                        }
                        return (.dropped, nil)
                    }
                    batch.writeBytes(command)
                    if let reply {
                        batchReplies.append(.promise(reply))
                    } else if case .publishes(let count)? = batchReplies.last {
                        batchReplies[batchReplies.count - 1] = .publishes(count: count + 1)
                        inFlight += 1
                    } else {
                        batchReplies.append(.publishes(count: 1))
                        inFlight += 1
                    }
                    guard !flushScheduled else { return (.sent, nil) }
                    flushScheduled = true
                    return (.sent, connection)
                case .idle, .connecting, .settling, .reconnecting, .stopped:
                    guard bufferable, outage.count < configuration.outageBuffer, !isStopped else { return (.dropped, nil) }
                    var copy = ByteBufferAllocator().buffer(capacity: command.count)
                    copy.writeBytes(command)
                    outage.append(copy)
                    return (.buffered, nil)
                }
            }
        }
        switch outcome {
        case .sent:
            counters.published.bump()
            if let flushOn {
                // Even on the loop: what this loop step publishes next joins the batch.
                eventLoop.execute { self.flush(flushOn) }
            }
        case .buffered:
            counters.buffered.bump()
            reply?.fail(RedisError.connectionClosed)
        case .dropped:
            counters.dropped.bump()
            reply?.fail(RedisError.connectionClosed)
        }
        return outcome
    }

    private var isStopped: Bool {
        if case .stopped = state { return true }
        return false
    }

    /// Writes the batch; on `eventLoop`. The flush stays scheduled while it
    /// writes: what is published meanwhile is picked up by a follow-up flush
    /// queued from the loop itself, so publishers only wake the loop (a
    /// system call) when it has gone idle.
    private func flush(_ channel: any Channel) {
        let taken = lock.withLock { () -> (ByteBuffer, [RedisReplySlot])? in
            // A flush queued for a connection since lost has nothing to do.
            guard case .connected(let current) = state, current === channel else { return nil }
            let taken = (batch, batchReplies)
            batch = channel.allocator.buffer(capacity: max(4096, taken.0.readableBytes))
            batchReplies = []
            return taken
        }
        guard let (bytes, replies) = taken else { return }
        if bytes.readableBytes > 0 {
            channel.writeAndFlush(RedisRequest(bytes: bytes, replies: replies), promise: nil)
        }
        let busy = load.record(replies.reduce(0) { $0 + $1.commandCount })
        let more = lock.withLock { () -> Bool in
            guard batch.readableBytes > 0 else {
                flushScheduled = false
                return false
            }
            return true
        }
        if more {
            // Publishes keep coming while the last batch was written. Under
            // sustained load, let the next batch grow a little, so that each
            // write (and each read of the replies, and Redis's own work)
            // carries many commands; at moderate rates go on at once.
            if busy, configuration.publishCoalescing > .zero {
                eventLoop.scheduleTask(in: TimeAmount(configuration.publishCoalescing)) { self.flush(channel) }
            } else {
                eventLoop.execute { self.flush(channel) }
            }
        }
    }

    /// Replies to publishes of connection `generation` arrived.
    private func answered(_ replies: RedisCommandHandler.PublishReplies, generation: Int) {
        counters.acknowledged.bump(replies.acknowledged)
        if replies.failed > 0 {
            counters.publishErrors.bump(replies.failed)
            logger.warning("redis \(role): Redis refused \(replies.failed) publishes: \(replies.lastError ?? "")")
        }
        lock.withLock {
            guard generation == self.generation else { return }
            inFlight -= replies.acknowledged + replies.failed
            if overloaded, inFlight < configuration.maxPublishesInFlight / 2 {
                overloaded = false
                logger.notice("redis \(role): publishes flowing again")
            }
        }
    }

    // MARK: - Connection

    /// Makes the first connection; fails if it cannot be made.
    func start() -> EventLoopFuture<Void> {
        lock.withLock { state = .connecting }
        board.connecting(role)
        return connect().map { channel in
            self.established(channel)
        }.flatMapErrorThrowing { error in
            self.lock.withLock { self.state = .stopped }
            self.board.stopped(self.role)
            throw error
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let generation = lock.withLock { () -> Int in
            self.generation += 1
            return self.generation
        }
        let logger = self.logger
        let counters = self.counters
        let role = self.role
        return RedisConnector.connect(settings, on: eventLoop) {
            RedisCommandHandler(
                // Strong: the cycle through the pipeline ends when the channel closes.
                onPublishReplies: { replies in self.answered(replies, generation: generation) },
                onClose: { unanswered in counters.unconfirmed.bump(unanswered) },
                onError: { error in logger.warning("redis \(role) connection error: \(error)") }
            )
        }
    }

    /// Installs a new connection; an outage buffer with messages is replayed
    /// after the replay delay.
    private func established(_ channel: any Channel) {
        let settling = lock.withLock { () -> Bool? in
            if case .stopped = state { return nil }
            inFlight = 0
            overloaded = false
            if outage.isEmpty {
                state = .connected(channel)
                return false
            }
            state = .settling(channel)
            return true
        }
        guard let settling else {
            channel.close(promise: nil)
            return
        }
        board.connected(role)
        channel.closeFuture.whenComplete { _ in
            self.lost(channel, reason: "connection closed")
        }
        guard settling else { return }
        let delay = configuration.outageReplayDelay
        logger.info("redis \(role): replaying the outage buffer in \(delay.humanReadable), once the other nodes are back")
        eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.replay(on: channel)
        }
    }

    /// Writes the outage buffer, in order, then goes live.
    private func replay(on channel: any Channel) {
        let replayed = lock.withLock { () -> Int? in
            guard case .settling(let current) = state, current === channel else { return nil }
            state = .connected(channel)
            let count = outage.count
            while let command = outage.popFirst() {
                batch.writeImmutableBuffer(command)
            }
            batchReplies.insert(.publishes(count: count), at: 0)
            inFlight += count
            flushScheduled = true
            return count
        }
        guard let replayed else { return }
        counters.replayed.bump(replayed)
        counters.published.bump(replayed)
        logger.notice("redis \(role): replayed \(replayed) messages kept during the outage")
        flush(channel)
    }

    private func lost(_ channel: any Channel, reason: String) {
        let lost = lock.withLock { () -> Bool in
            switch state {
            case .connected(let current) where current === channel, .settling(let current) where current === channel:
                break
            default:
                return false
            }
            state = .reconnecting(attempt: 1)
            let unflushed = batchReplies.reduce(0) { count, slot in
                if case .publishes(let publishes) = slot { return count + publishes }
                return count
            }
            counters.dropped.bump(unflushed)
            for case .promise(let promise) in batchReplies {
                promise.fail(RedisError.connectionClosed)
            }
            batch.clear()
            batchReplies = []
            flushScheduled = false
            return true
        }
        guard lost else { return }
        board.lost(role, reason: reason)
        scheduleReconnect(attempt: 1)
    }

    private func scheduleReconnect(attempt: Int) {
        eventLoop.assertInEventLoop()
        let delay = configuration.reconnectBackoff.delay(attempt: attempt)
        reconnectTask = eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.reconnect(attempt: attempt)
        }
    }

    private func reconnect(attempt: Int) {
        guard lock.withLock({ if case .reconnecting = state { return true } else { return false } }) else { return }
        connect().whenComplete { result in
            switch result {
            case .success(let channel):
                self.counters.reconnects.bump()
                self.established(channel)
            case .failure(let error):
                guard self.lock.withLock({ if case .reconnecting = self.state { return true } else { return false } }) else { return }
                let delay = self.configuration.reconnectBackoff.delay(attempt: attempt + 1)
                self.board.attemptFailed(self.role, reason: "\(error)", nextIn: delay)
                self.reconnectTask = self.eventLoop.scheduleTask(in: TimeAmount(delay)) {
                    self.reconnect(attempt: attempt + 1)
                }
            }
        }
    }

    /// Drops the connection (it looks dead: a probe's publish went unanswered)
    /// so that it is re-established.
    func reset(reason: String) {
        let channel = lock.withLock { () -> (any Channel)? in
            switch state {
            case .connected(let channel), .settling(let channel): return channel
            case .idle, .connecting, .reconnecting, .stopped: return nil
            }
        }
        guard let channel else { return }
        logger.warning("redis \(role): \(reason); reconnecting")
        channel.close(promise: nil)
    }

    /// Whether publishes go straight out.
    var isConnected: Bool {
        lock.withLock { if case .connected = state { return true } else { return false } }
    }

    /// Closes the connection for good; buffered messages are dropped.
    func shutdown() -> EventLoopFuture<Void> {
        let channel = lock.withLock { () -> (any Channel)? in
            defer {
                state = .stopped
                counters.dropped.bump(outage.count)
                outage.removeAll()
            }
            switch state {
            case .connected(let channel), .settling(let channel): return channel
            case .idle, .connecting, .reconnecting, .stopped: return nil
            }
        }
        board.stopped(role)
        return eventLoop.flatSubmit {
            self.reconnectTask?.cancel()
            self.reconnectTask = nil
            guard let channel else { return self.eventLoop.makeSucceededVoidFuture() }
            return channel.close().recover { _ in }
        }
    }
}
