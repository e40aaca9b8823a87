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
/// While the connection is down, messages go to the outage buffer (if the
/// node's ``RedisOutageBudget`` has room) or are dropped and counted. With the buffer on, a message written to
/// the connection is also kept until Redis's reply to its `PUBLISH` arrives
/// (see ``Unacknowledged``): when the connection is lost, the messages Redis
/// never answered go back to the front of the buffer, so a message written
/// into a socket whose server had just died (or stopped) is re-sent rather
/// than lost. The price is a possible duplicate: a `PUBLISH` that Redis
/// executed but whose reply was lost with the connection (a server killed
/// between the two, or a stopped server that executes what it had received
/// once it resumes) is published again. Direct messages whose sender waits
/// for the reply are not re-sent; their sender hears of the loss.
///
/// After a reconnect the buffer is replayed
/// in order, before anything newer — but only after
/// ``RedisAdapterConfiguration/outageReplayDelay``: the other nodes come back
/// at random moments within their reconnect backoff, and a message replayed
/// before their subscribers are back would reach nobody. Until then new
/// messages join the buffer.
///
/// Behind Sentinel, the connection asks `ROLE` every
/// ``RedisAdapterConfiguration/roleCheckInterval`` and leaves a server that
/// is no longer a master (a failover the node did not hear of), as it leaves
/// one that answers a publish `READONLY`.
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

    /// Where the connection is.
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
    /// `SPUBLISH` rather than `PUBLISH`.
    let sharded: Bool
    /// Sharded: something says the slot map changed. Set before ``start()``.
    var onClusterHint: @Sendable (String) -> Void = { _ in }
    /// Sharded, with the outage buffer on: publishes a cluster answered
    /// `MOVED` (or `ASK`, `TRYAGAIN`, `CLUSTERDOWN`), as the commands
    /// written, for publishing again where the fresh slot map says. Set
    /// before ``start()``.
    /// `unheard`: publishes answered 0 receivers right after the replies
    /// stalled (``RedisCommandHandler/stall``), perhaps run by a master
    /// demoted in a failover: published again only if a map names another
    /// master for their slot.
    var onRedirected: @Sendable (_ commands: [ByteBuffer], _ unheard: Bool) -> Void = { _, _ in }
    /// How long the first connection holds what was published while it was
    /// made, when that is not ``RedisAdapterConfiguration/outageReplayDelay``
    /// (a cluster master new to this node: see
    /// ``RedisAdapterConfiguration/clusterSwitchDelay``). Set before ``start()``.
    var firstSettleDelay: Duration?
    private let settings: RedisConnector.Settings
    private let configuration: RedisAdapterConfiguration
    private let board: RedisStatusBoard
    private let counters: RedisAdapterCounters
    private let budget: RedisOutageBudget
    private let logger: Logger

    /// What publishers on any thread and the event loop share. In a struct
    /// behind the lock, so the hot path pays no per-field exclusivity checks.
    private struct Shared {
        var state = State.idle
        /// Commands not yet handed to the channel.
        var batch: ByteBuffer
        var batchReplies: [RedisReplySlot] = []
        var flushScheduled = false
        /// Publishes queued or written and not yet answered on this connection.
        var inFlight = 0
        var overloaded = false
        var outage: CircularBuffer<ByteBuffer>
        /// Identifies the current connection, so replies of an old one are ignored.
        var generation = 0
        /// With the outage buffer on: the commands of this connection not yet answered.
        var unacknowledged: Unacknowledged
        /// Replies received on any connection, ever: tells the probe whether
        /// Redis is still answering while its probe waits in the queue.
        var replies = 0
        /// The next connection settles (waits the replay delay before
        /// publishing) even with an empty outage buffer: set when leaving an
        /// old master, so that other nodes' subscribers are on the new one first.
        var settleNextConnection = false
        /// Why the connection is being closed on purpose, for the status board.
        var closingReason: String?

        var isStopped: Bool {
            if case .stopped = state { return true }
            return false
        }

        var isReconnecting: Bool {
            if case .reconnecting = state { return true }
            return false
        }
    }

    private let shared: NIOLockedValueBox<Shared>
    /// Whether written messages are kept until Redis answers (the outage buffer is on).
    private let keepsUnacknowledged: Bool

    // On `eventLoop`:
    private var reconnectTask: Scheduled<Void>?
    private var roleCheck: RepeatedTask?
    private var load = PublishLoad()

    convenience init(
        index: Int,
        settings: RedisConnector.Settings,
        configuration: RedisAdapterConfiguration,
        eventLoop: any EventLoop,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        budget: RedisOutageBudget,
        logger: Logger
    ) {
        self.init(
            role: "publisher \(index)", sharded: false, settings: settings, configuration: configuration,
            eventLoop: eventLoop, board: board, counters: counters, budget: budget, logger: logger
        )
    }

    init(
        role: String,
        sharded: Bool,
        settings: RedisConnector.Settings,
        configuration: RedisAdapterConfiguration,
        eventLoop: any EventLoop,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        budget: RedisOutageBudget,
        logger: Logger
    ) {
        self.role = role
        self.sharded = sharded
        self.settings = settings
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.board = board
        self.counters = counters
        self.budget = budget
        self.logger = logger
        self.keepsUnacknowledged = budget.isOn
        self.shared = NIOLockedValueBox(Shared(
            batch: ByteBufferAllocator().buffer(capacity: 4096),
            outage: CircularBuffer(initialCapacity: min(configuration.outageBuffer, 1024)),
            unacknowledged: Unacknowledged(capacity: configuration.outageBuffer)
        ))
    }

    // MARK: - Publishing

    /// `PUBLISH channel message`. `reply`, if given, gets Redis's answer (the
    /// number of receivers), or fails if the message was not sent on a live
    /// connection. Only `bufferable` messages go to the outage buffer.
    func publish(
        channel: UnsafeRawBufferPointer,
        message: UnsafeRawBufferPointer,
        reply: EventLoopPromise<RedisValue>? = nil,
        bufferable: Bool = true
    ) -> Outcome {
        let maxInFlight = configuration.maxPublishesInFlight
        let budget = self.budget
        let keepsUnacknowledged = self.keepsUnacknowledged
        let (outcome, flushOn, overloadedAt) = RedisCommand.withPublish(channel: channel, message: message, sharded: sharded) { command in
            shared.withLockedValue { shared -> (Outcome, (any Channel)?, overloadedAt: Int?) in
                switch shared.state {
                case .connected(let connection):
                    guard shared.inFlight < maxInFlight else {
                        guard !shared.overloaded else { return (.dropped, nil, nil) }
                        shared.overloaded = true
                        return (.dropped, nil, shared.inFlight)
                    }
                    shared.batch.writeBytes(command)
                    if keepsUnacknowledged {
                        shared.unacknowledged.append(length: command.count, isPublish: reply == nil)
                    }
                    if let reply {
                        shared.batchReplies.append(.promise(reply))
                    } else if case .publishes(let count)? = shared.batchReplies.last {
                        shared.batchReplies[shared.batchReplies.count - 1] = .publishes(count: count + 1)
                        shared.inFlight += 1
                    } else {
                        shared.batchReplies.append(.publishes(count: 1))
                        shared.inFlight += 1
                    }
                    guard !shared.flushScheduled else { return (.sent, nil, nil) }
                    shared.flushScheduled = true
                    return (.sent, connection, nil)
                case .idle, .connecting, .settling, .reconnecting, .stopped:
                    guard bufferable, !shared.isStopped, budget.reserve(bytes: command.count) else { return (.dropped, nil, nil) }
                    var copy = ByteBufferAllocator().buffer(capacity: command.count)
                    copy.writeBytes(command)
                    shared.outage.append(copy)
                    return (.buffered, nil, nil)
                }
            }
        }
        if let overloadedAt {
            logger.warning("redis \(role): \(overloadedAt) publishes unanswered; dropping new ones until Redis catches up")
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

    /// Writes the batch; on `eventLoop`. The flush stays scheduled while it
    /// writes: what is published meanwhile is picked up by a follow-up flush
    /// queued from the loop itself, so publishers only wake the loop (a
    /// system call) when it has gone idle.
    private func flush(_ channel: any Channel) {
        let taken = shared.withLockedValue { shared -> (ByteBuffer, [RedisReplySlot])? in
            // A flush queued for a connection since lost has nothing to do.
            guard case .connected(let current) = shared.state, current === channel else { return nil }
            let taken = (shared.batch, shared.batchReplies)
            shared.batch = channel.allocator.buffer(capacity: max(4096, taken.0.readableBytes))
            shared.batchReplies = []
            if keepsUnacknowledged {
                shared.unacknowledged.written(taken.0)
            }
            return taken
        }
        guard let (bytes, replies) = taken else { return }
        if bytes.readableBytes > 0 {
            channel.writeAndFlush(RedisRequest(bytes: bytes, replies: replies), promise: nil)
        }
        let busy = load.record(replies.reduce(0) { $0 + $1.commandCount })
        let more = shared.withLockedValue { shared -> Bool in
            guard shared.batch.readableBytes > 0 else {
                shared.flushScheduled = false
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
            // Redirections of a cluster are published again (the shards say so).
            let level: Logger.Level = replies.redirected.count == replies.failed ? .info : .warning
            logger.log(level: level, "redis \(role): Redis refused \(replies.failed) publishes: \(replies.lastError ?? "")")
            if replies.lastError?.hasPrefix("READONLY") == true {
                // A replica: the master moved. Connect again, to the master the sentinels name now.
                reset(reason: "Redis answered READONLY, it is a replica now")
            }
            if sharded, let message = replies.lastError, RedisClusterSlot.isRedirection(message) {
                onClusterHint("\(role): \(message)")
            }
        }
        let (flowingAgain, returned) = shared.withLockedValue { shared -> (Bool, [(position: Int, bytes: ByteBuffer)]) in
            guard generation == shared.generation else { return (false, []) }
            shared.inFlight -= replies.acknowledged + replies.failed
            shared.replies &+= replies.commands
            var returned: [(position: Int, bytes: ByteBuffer)] = []
            if keepsUnacknowledged {
                let positions = replies.unheardAfterStall.isEmpty
                    ? replies.redirected : (replies.redirected + replies.unheardAfterStall).sorted()
                returned = shared.unacknowledged.answered(replies.commands, returning: positions)
            }
            guard shared.overloaded, shared.inFlight < configuration.maxPublishesInFlight / 2 else { return (false, returned) }
            shared.overloaded = false
            return (true, returned)
        }
        if flowingAgain {
            logger.notice("redis \(role): publishes flowing again")
        }
        guard !returned.isEmpty else { return }
        if replies.unheardAfterStall.isEmpty {
            onRedirected(returned.map(\.bytes), false)
            return
        }
        logger.info("redis \(role): \(replies.unheardAfterStall.count) publishes answered 0 receivers after the replies stalled; kept for the next slot map")
        let unheard = Set(replies.unheardAfterStall)
        let (late, moved) = returned.reduce(into: ([ByteBuffer](), [ByteBuffer]())) { split, command in
            if unheard.contains(command.position) { split.0.append(command.bytes) } else { split.1.append(command.bytes) }
        }
        if !moved.isEmpty { onRedirected(moved, false) }
        if !late.isEmpty { onRedirected(late, true) }
    }

    // MARK: - Connection

    /// Makes the first connection; fails if it cannot be made.
    func start() -> EventLoopFuture<Void> {
        shared.withLockedValue { $0.state = .connecting }
        board.connecting(role)
        return connect().map { channel in
            self.established(channel, settleDelay: self.firstSettleDelay)
            self.startRoleChecks()
        }.flatMapErrorThrowing { error in
            self.shared.withLockedValue { $0.state = .stopped }
            self.board.stopped(self.role)
            throw error
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let generation = shared.withLockedValue { shared -> Int in
            shared.generation += 1
            return shared.generation
        }
        let logger = self.logger
        let counters = self.counters
        let role = self.role
        return RedisConnector.connect(settings, on: eventLoop) {
            RedisCommandHandler(
                collectsRedirections: self.sharded && self.keepsUnacknowledged,
                // Strong: the cycle through the pipeline ends when the channel closes.
                onPublishReplies: { replies in self.answered(replies, generation: generation) },
                onClose: { unanswered in counters.unconfirmed.bump(unanswered) },
                onError: { error in logger.warning("redis \(role) connection error: \(error)") }
            )
        }
    }

    /// Installs a new connection; an outage buffer with messages is replayed
    /// after the replay delay.
    private func established(_ channel: any Channel, settleDelay: Duration? = nil) {
        let settling = shared.withLockedValue { shared -> Bool? in
            if shared.isStopped { return nil }
            shared.inFlight = 0
            shared.overloaded = false
            shared.unacknowledged.removeAll()
            defer { shared.settleNextConnection = false }
            if shared.outage.isEmpty, !shared.settleNextConnection {
                shared.state = .connected(channel)
                return false
            }
            shared.state = .settling(channel)
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
        let delay = settleDelay ?? configuration.outageReplayDelay
        logger.info("redis \(role): replaying the outage buffer in \(delay.humanReadable), once the other nodes are back")
        eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.replay(on: channel)
        }
    }

    /// Writes the outage buffer, in order, then goes live.
    private func replay(on channel: any Channel) {
        let replayed = shared.withLockedValue { shared -> Int? in
            guard case .settling(let current) = shared.state, current === channel else { return nil }
            shared.state = .connected(channel)
            let count = shared.outage.count
            var bytes = 0
            while let command = shared.outage.popFirst() {
                bytes += command.readableBytes
                shared.batch.writeImmutableBuffer(command)
                if keepsUnacknowledged {
                    shared.unacknowledged.append(length: command.readableBytes, isPublish: true)
                }
            }
            if count > 0 {
                shared.batchReplies.insert(.publishes(count: count), at: 0)
            }
            shared.inFlight += count
            shared.flushScheduled = true
            budget.release(messages: count, bytes: bytes)
            return count
        }
        guard let replayed else { return }
        counters.replayed.bump(replayed)
        counters.published.bump(replayed)
        logger.notice("redis \(role): replayed \(replayed) messages kept during the outage")
        flush(channel)
    }

    private func lost(_ channel: any Channel, reason: String) {
        let keepsUnacknowledged = self.keepsUnacknowledged
        let taken = shared.withLockedValue { shared -> (unflushed: [RedisReplySlot], kept: Int, refused: Int, keptUnflushed: Int, missing: Int, reason: String)? in
            switch shared.state {
            case .connected(let current) where current === channel, .settling(let current) where current === channel:
                break
            default:
                return nil
            }
            shared.state = .reconnecting(attempt: 1)
            let unflushed = shared.batchReplies
            var kept = (all: 0, refused: 0, unflushed: 0, missing: 0)
            if keepsUnacknowledged {
                // Unanswered and unflushed messages go first, before what was
                // buffered meanwhile (nothing, unless the connection was
                // settling), as far as the node's budget has room.
                var resent = shared.unacknowledged.takeKept(unflushed: shared.batch)
                let room = reserve(resent.commands)
                kept = (room, resent.commands.count - room, resent.unflushed, resent.missing)
                if !resent.commands.isEmpty {
                    resent.commands.removeLast(resent.commands.count - room)
                    resent.commands.append(contentsOf: shared.outage)
                    shared.outage = resent.commands
                }
            }
            shared.batch.clear()
            shared.batchReplies = []
            shared.flushScheduled = false
            defer { shared.closingReason = nil }
            return (unflushed, kept.all, kept.refused, kept.unflushed, kept.missing, shared.closingReason ?? reason)
        }
        guard let (unflushed, kept, refused, keptUnflushed, missing, reason) = taken else { return }
        var dropped = refused - keptUnflushed + missing
        for slot in unflushed {
            switch slot {
            case .publishes(let count): dropped += count
            case .promise(let promise): promise.fail(RedisError.connectionClosed)
            }
        }
        counters.dropped.bump(dropped)
        if kept > 0 {
            counters.buffered.bump(kept)
            logger.notice("redis \(role): \(kept) messages Redis had not answered are kept for the reconnect")
        }
        if refused > 0 {
            logger.warning("redis \(role): \(refused) messages Redis had not answered are dropped: the outage buffer is full")
        }
        if missing > 0 {
            logger.error("redis \(role): \(missing) messages Redis had not answered are dropped: their bytes were not where the publisher tracked them (a bug, please report it)")
        }
        board.lost(role, reason: reason)
        scheduleReconnect(attempt: 1)
        if sharded { onClusterHint("\(role) lost its connection") }
    }

    /// Takes room in the node's outage budget for the first of `commands`,
    /// in order, until one does not fit; returns how many got room.
    private func reserve(_ commands: some Collection<ByteBuffer>) -> Int {
        var room = 0
        for command in commands {
            guard budget.reserve(bytes: command.readableBytes) else { break }
            room += 1
        }
        return room
    }

    private func scheduleReconnect(attempt: Int) {
        eventLoop.assertInEventLoop()
        let delay = configuration.reconnectBackoff.delay(attempt: attempt)
        reconnectTask = eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.reconnect(attempt: attempt)
        }
    }

    private func reconnect(attempt: Int) {
        guard shared.withLockedValue(\.isReconnecting) else { return }
        connect().whenComplete { result in
            switch result {
            case .success(let channel):
                self.counters.reconnects.bump()
                self.established(channel)
            case .failure(let error):
                guard self.shared.withLockedValue(\.isReconnecting) else { return }
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
    func reset(reason: String, settleNext: Bool = false) {
        let channel = shared.withLockedValue { shared -> (any Channel)? in
            switch shared.state {
            case .connected(let channel), .settling(let channel):
                shared.closingReason = reason
                // Without an outage buffer, settling would drop what is published meanwhile.
                shared.settleNextConnection = settleNext && keepsUnacknowledged
                return channel
            case .idle, .connecting, .reconnecting, .stopped: return nil
            }
        }
        guard let channel else { return }
        logger.warning("redis \(role): \(reason); reconnecting")
        channel.close(promise: nil)
    }

    // MARK: - Role checks

    /// Behind Sentinel: asks `ROLE` every ``RedisAdapterConfiguration/roleCheckInterval``
    /// on the live connection; on `eventLoop`.
    private func startRoleChecks() {
        guard settings.discovery != nil || settings.requiresMaster, configuration.roleCheckInterval > .zero else { return }
        let interval = TimeAmount(configuration.roleCheckInterval)
        roleCheck = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            self.checkRole()
        }
    }

    /// Leaves the server if `ROLE` says it is no longer a master (the
    /// sentinels failed over without this node hearing of it); the next
    /// connection waits the replay delay, as after a failover it heard of.
    private func checkRole() {
        request(["ROLE"])?.whenSuccess { answer in
            guard case .array(let elements) = answer, let name = elements.first?.string, name != "master" else { return }
            self.reset(reason: "Redis answered ROLE: it is a \(name) now, no longer the master", settleNext: true)
        }
    }

    /// Sends `arguments` on the live connection, after what is batched;
    /// `nil` while the connection is not live.
    private func request(_ arguments: [RedisArgument]) -> EventLoopFuture<RedisValue>? {
        let promise = eventLoop.makePromise(of: RedisValue.self)
        let command = RedisCommand.encode(arguments)
        let keepsUnacknowledged = self.keepsUnacknowledged
        let (sent, flushOn) = shared.withLockedValue { shared -> (Bool, (any Channel)?) in
            guard case .connected(let connection) = shared.state else { return (false, nil) }
            shared.batch.writeImmutableBuffer(command)
            if keepsUnacknowledged {
                shared.unacknowledged.append(length: command.readableBytes, isPublish: false)
            }
            shared.batchReplies.append(.promise(promise))
            guard !shared.flushScheduled else { return (true, nil) }
            shared.flushScheduled = true
            return (true, connection)
        }
        guard sent else {
            promise.fail(RedisError.connectionClosed)
            return nil
        }
        if let flushOn {
            eventLoop.execute { self.flush(flushOn) }
        }
        return promise.futureResult
    }

    /// Drops the connection unless it is to `master` (after a failover); with
    /// the outage buffer on, the next connection waits the replay delay
    /// before it publishes (buffering), as after an outage, so that the
    /// other nodes' subscribers are there first.
    func leave(unlessConnectedTo master: RedisHostPort) {
        let channel = shared.withLockedValue { shared -> (any Channel)? in
            switch shared.state {
            case .connected(let channel), .settling(let channel):
                guard !master.isAddress(of: channel) else { return nil }
                // Without an outage buffer, settling would drop what is published meanwhile.
                shared.settleNextConnection = keepsUnacknowledged
                shared.closingReason = "the sentinels named another master, \(master)"
                return channel
            case .idle, .connecting, .reconnecting, .stopped: return nil
            }
        }
        guard let channel else { return }
        logger.warning("redis \(role): still connected to the old master after the failover to \(master); reconnecting")
        channel.close(promise: nil)
    }

    /// Publishes `commands` (formatted publishes another connection had
    /// redirected), after whatever is batched; once only: not kept for
    /// re-sending again. Buffered while the connection is not live. Returns
    /// how many were taken.
    @discardableResult
    func resend(_ commands: [ByteBuffer]) -> Int {
        let keepsUnacknowledged = self.keepsUnacknowledged
        let (taken, flushOn) = shared.withLockedValue { shared -> (Int, (any Channel)?) in
            switch shared.state {
            case .connected(let connection):
                for command in commands {
                    shared.batch.writeImmutableBuffer(command)
                    if keepsUnacknowledged {
                        shared.unacknowledged.append(length: command.readableBytes, isPublish: true, keep: false)
                    }
                }
                shared.batchReplies.append(.publishes(count: commands.count))
                shared.inFlight += commands.count
                guard !shared.flushScheduled else { return (commands.count, nil) }
                shared.flushScheduled = true
                return (commands.count, connection)
            case .idle, .connecting, .settling, .reconnecting:
                let room = reserve(commands)
                shared.outage.append(contentsOf: commands.prefix(room))
                return (room, nil)
            case .stopped:
                return (0, nil)
            }
        }
        counters.dropped.bump(commands.count - taken)
        if let flushOn {
            eventLoop.execute { self.flush(flushOn) }
        }
        return taken
    }

    /// Replies received so far (a count that only grows, any thread).
    var repliesReceived: Int {
        shared.withLockedValue(\.replies)
    }

    /// Whether publishes go straight out.
    var isConnected: Bool {
        shared.withLockedValue { shared in
            if case .connected = shared.state { return true }
            return false
        }
    }

    /// Closes the connection for good; buffered messages are dropped.
    func shutdown() -> EventLoopFuture<Void> {
        let (channel, discarded) = shared.withLockedValue { shared -> ((any Channel)?, Int) in
            defer {
                shared.state = .stopped
                budget.release(messages: shared.outage.count, bytes: shared.outage.reduce(0) { $0 + $1.readableBytes })
                shared.outage.removeAll()
                shared.unacknowledged.removeAll()
            }
            switch shared.state {
            case .connected(let channel), .settling(let channel): return (channel, shared.outage.count)
            case .idle, .connecting, .reconnecting, .stopped: return (nil, shared.outage.count)
            }
        }
        counters.dropped.bump(discarded)
        board.stopped(role)
        return eventLoop.flatSubmit {
            self.reconnectTask?.cancel()
            self.reconnectTask = nil
            self.roleCheck?.cancel()
            self.roleCheck = nil
            guard let channel else { return self.eventLoop.makeSucceededVoidFuture() }
            return channel.close().recover { _ in }
        }
    }
}
