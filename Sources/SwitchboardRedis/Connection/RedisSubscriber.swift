import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The subscriber connection, in RESP2 subscribe mode: keeps the set of
/// Redis channels the node wants, SUBSCRIBEs and UNSUBSCRIBEs as it changes,
/// re-SUBSCRIBEs all of them after every reconnect, and hands each message to
/// `onMessage`.
///
/// A sharded subscriber (``Kind/sharded``, one per Redis Cluster shard)
/// speaks `SSUBSCRIBE`/`SUNSUBSCRIBE`, resubscribes one slot per command
/// (an `SSUBSCRIBE` of several channels must name one slot), and reports
/// what says the slot map changed: a `sunsubscribe` it did not ask for (the
/// slot moved away, `onEvicted`), an error reply such as `MOVED`, and the
/// loss of its connection (`onClusterHint`).
///
/// All state lives on ``eventLoop``; the public methods hop there.
/// ``subscribe(_:timeout:)`` completes once Redis confirmed the subscription
/// — or at once when Redis is unreachable, the channel being recorded for the
/// reconnect, so that a join never hangs on Redis.
final class RedisSubscriber: @unchecked Sendable {
    /// Where the connection is.
    private enum State {
        /// Not started yet.
        case idle
        /// The first connection is being made.
        case connecting
        /// In subscribe mode on `channel`.
        case connected(any Channel)
        /// Lost: the next attempt is scheduled.
        case reconnecting(attempt: Int, next: Scheduled<Void>?)
        /// Shut down.
        case stopped
    }

    /// One wanted Redis channel.
    private struct Subscription {
        /// Redis confirmed it on the current connection.
        var confirmed = false
        /// Callers waiting for the confirmation.
        var waiters: [EventLoopPromise<Void>] = []
    }

    /// Classic pub/sub, or sharded pub/sub on one Redis Cluster shard.
    enum Kind: Sendable {
        case classic
        case sharded
    }

    let role: String
    let kind: Kind
    let eventLoop: any EventLoop
    private let settings: RedisConnector.Settings
    private let configuration: RedisAdapterConfiguration
    private let board: RedisStatusBoard
    private let counters: RedisAdapterCounters
    private let logger: Logger
    private let onMessage: (_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void
    /// Sharded: a wanted channel was unsubscribed by the server (its slot moved).
    var onEvicted: (String) -> Void = { _ in }
    /// Sharded: something says the slot map changed (an error reply, a lost connection).
    var onClusterHint: (String) -> Void = { _ in }

    private var state = State.idle
    private var subscriptions: [String: Subscription] = [:]
    /// SUBSCRIBEs sent on the current connection and not yet confirmed, per channel.
    private var unconfirmed: [String: Int] = [:]
    /// UNSUBSCRIBEs sent on the current connection and not yet confirmed, per
    /// channel: any other `unsubscribe` is the server's own doing.
    private var unsubscribing: [String: Int] = [:]
    /// Sharded: channels the server dropped, subscribed again at once on the
    /// same connection. A server that confirms one serves its slot as a
    /// replica now (its master failed over): Redis delivers a shard's
    /// messages to the subscribers of every node of the shard.
    private var evicted: Set<String> = []
    /// Sharded: channels confirmed after ``evicted``, so held on a replica.
    private var onReplica: Set<String> = []
    /// Counts connections, so the probe can tell whether the connection changed.
    private(set) var generation = 0
    private let connected = NIOLockedValueBox(false)

    /// Channel names per SUBSCRIBE command when resubscribing.
    static let channelsPerCommand = 256

    init(
        role: String = "subscriber",
        kind: Kind = .classic,
        settings: RedisConnector.Settings,
        configuration: RedisAdapterConfiguration,
        eventLoop: any EventLoop,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        logger: Logger,
        onMessage: @escaping (_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void
    ) {
        self.role = role
        self.kind = kind
        self.settings = settings
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.board = board
        self.counters = counters
        self.logger = logger
        self.onMessage = onMessage
    }

    /// Whether the connection is up (any thread).
    var isConnected: Bool {
        connected.withLockedValue { $0 }
    }

    // MARK: - Subscriptions

    /// Wants `channel`; completes once Redis confirmed it, at once if Redis is
    /// unreachable, and after `timeout` at the latest.
    func subscribe(_ channel: String, timeout: Duration) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            var subscription = self.subscriptions[channel] ?? Subscription()
            let isNew = self.subscriptions[channel] == nil
            guard case .connected(let connection) = self.state else {
                self.subscriptions[channel] = subscription
                return self.eventLoop.makeSucceededVoidFuture()
            }
            if subscription.confirmed {
                return self.eventLoop.makeSucceededVoidFuture()
            }
            let promise = self.eventLoop.makePromise(of: Void.self)
            subscription.waiters.append(promise)
            self.subscriptions[channel] = subscription
            if isNew {
                self.send([self.subscribeCommand, .string(channel)], on: connection)
                self.unconfirmed[channel, default: 0] += 1
            }
            let timer = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                self.logger.warning("redis subscriber: SUBSCRIBE \(channel) not confirmed within \(timeout.humanReadable); going on without it")
                promise.succeed()
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            return promise.futureResult
        }
    }

    /// No longer wants `channel`.
    func unsubscribe(_ channel: String) {
        eventLoop.execute {
            guard let subscription = self.subscriptions.removeValue(forKey: channel) else { return }
            subscription.waiters.forEach { $0.succeed() }
            self.evicted.remove(channel)
            self.onReplica.remove(channel)
            if case .connected(let connection) = self.state {
                self.send([self.unsubscribeCommand, .string(channel)], on: connection)
                self.unsubscribing[channel, default: 0] += 1
            }
        }
    }

    /// No longer wants `channel`, but stays subscribed to it for `delay`
    /// before sending the `UNSUBSCRIBE` (unless it is wanted again by then):
    /// a sharded channel whose slot moved to another master, whose old
    /// master may still take publishes until it hears of the move. Meanwhile
    /// it is neither resubscribed nor counted, and the server dropping it is
    /// no news.
    func release(_ channel: String, after delay: Duration) {
        eventLoop.execute {
            guard let subscription = self.subscriptions.removeValue(forKey: channel) else { return }
            subscription.waiters.forEach { $0.succeed() }
            self.evicted.remove(channel)
            // A replica gets what its master publishes: staying would deliver everything twice.
            let delay = self.onReplica.remove(channel) != nil ? .zero : delay
            guard case .connected(let connection) = self.state else { return }
            self.eventLoop.scheduleTask(in: TimeAmount(delay)) {
                guard self.subscriptions[channel] == nil, case .connected(let current) = self.state, current === connection else { return }
                self.send([self.unsubscribeCommand, .string(channel)], on: connection)
                self.unsubscribing[channel, default: 0] += 1
            }
        }
    }

    /// Sends `SUBSCRIBE` again for every wanted channel not confirmed on the
    /// current connection (after a `MOVED` answer, once the slot map is
    /// fresh); their waiters keep waiting.
    func resubscribeUnconfirmed() {
        eventLoop.execute {
            guard case .connected(let connection) = self.state else { return }
            let channels = self.subscriptions.filter { !$0.value.confirmed && self.unconfirmed[$0.key] == nil }.map(\.key)
            self.write(subscribing: channels, on: connection)
        }
    }

    /// Whether `channel` is wanted and confirmed on the current connection (on ``eventLoop``).
    func isConfirmed(_ channel: String) -> Bool {
        eventLoop.assertInEventLoop()
        return subscriptions[channel]?.confirmed == true
    }

    /// The wanted channels, and how many of them are confirmed.
    var subscriptionCounts: EventLoopFuture<(wanted: Int, confirmed: Int)> {
        eventLoop.submit {
            (self.subscriptions.count, self.subscriptions.values.filter(\.confirmed).count)
        }
    }

    private var subscribeCommand: RedisArgument {
        kind == .sharded ? "SSUBSCRIBE" : "SUBSCRIBE"
    }

    private var unsubscribeCommand: RedisArgument {
        kind == .sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE"
    }

    /// Subscribes `channels` in as few commands as may be: up to
    /// ``channelsPerCommand`` per command, and for a sharded subscriber only
    /// channels of one slot together (Redis refuses a multi-slot
    /// `SSUBSCRIBE` with `CROSSSLOT`).
    private func write(subscribing channels: [String], on channel: any Channel) {
        guard !channels.isEmpty else { return }
        var groups: [[String]]
        switch kind {
        case .classic:
            groups = [channels]
        case .sharded:
            groups = Array(Dictionary(grouping: channels, by: { RedisClusterSlot.of($0) }).values)
        }
        var bytes = channel.allocator.buffer(capacity: 64 * channels.count)
        for group in groups {
            for start in stride(from: 0, to: group.count, by: Self.channelsPerCommand) {
                let slice = group[start..<min(start + Self.channelsPerCommand, group.count)]
                RedisCommand.write([subscribeCommand] + slice.map { .string($0) }, into: &bytes)
                for name in slice { unconfirmed[name, default: 0] += 1 }
            }
        }
        channel.writeAndFlush(bytes, promise: nil)
    }

    private func send(_ command: [RedisArgument], on channel: any Channel) {
        channel.writeAndFlush(RedisCommand.encode(command, allocator: channel.allocator), promise: nil)
    }

    private func received(_ push: RedisPush, from channel: any Channel) {
        guard case .connected(let current) = state, current === channel else { return }
        switch push {
        case .message(let channel, let payload):
            onMessage(channel, payload)
        case .subscribed(let channel):
            let remaining = (unconfirmed[channel] ?? 1) - 1
            unconfirmed[channel] = remaining > 0 ? remaining : nil
            guard remaining <= 0, var subscription = subscriptions[channel] else { return }
            if evicted.remove(channel) != nil {
                onReplica.insert(channel)
            }
            subscription.confirmed = true
            let waiters = subscription.waiters
            subscription.waiters = []
            subscriptions[channel] = subscription
            waiters.forEach { $0.succeed() }
        case .unsubscribed(let channel):
            if let asked = unsubscribing[channel] {
                unsubscribing[channel] = asked > 1 ? asked - 1 : nil
                return
            }
            // Not asked for: the server dropped it (a sharded channel whose
            // slot moved to another shard).
            guard subscriptions[channel] != nil else { return }
            subscriptions[channel]?.confirmed = false
            logger.info("redis \(role): the server unsubscribed \(channel) (its slot moved)")
            // At once, on the same server: a failover's old master, now a
            // replica of the new one, takes it and delivers the shard's
            // messages while the slot map is read again; a server that no
            // longer serves the slot at all answers MOVED.
            evicted.insert(channel)
            write(subscribing: [channel], on: current)
            onEvicted(channel)
        case .pong:
            break
        }
    }

    // MARK: - Connection

    /// Makes the first connection and subscribes the wanted channels; fails
    /// if the connection cannot be made.
    func start() -> EventLoopFuture<Void> {
        board.connecting(role)
        return eventLoop.flatSubmit {
            self.state = .connecting
            return self.connect().flatMapErrorThrowing { error in
                self.state = .stopped
                self.board.stopped(self.role)
                throw error
            }.flatMap { channel in
                self.established(channel)
                // Ready once every channel wanted so far is confirmed.
                let waits = self.subscriptions.keys.map { self.subscribe($0, timeout: self.configuration.connectTimeout) }
                return EventLoopFuture.andAllSucceed(waits, on: self.eventLoop)
            }
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        RedisConnector.connect(settings, on: eventLoop) { RedisCommandHandler() }
    }

    /// Switches a fresh connection to subscribe mode and subscribes everything wanted.
    private func established(_ channel: any Channel) {
        eventLoop.assertInEventLoop()
        if case .stopped = state {
            channel.close(promise: nil)
            return
        }
        do {
            let logger = self.logger
            let role = self.role
            try RedisSubscriberHandler.install(
                on: channel,
                onPush: { push in self.received(push, from: channel) },
                onError: { error in logger.warning("redis \(role) connection error: \(error)") },
                onErrorReply: kind == .classic ? nil : { message in self.refused(message, on: channel) }
            )
        } catch {
            channel.close(promise: nil)
            lost(channel, reason: "cannot set up the connection: \(error)")
            return
        }
        generation += 1
        state = .connected(channel)
        connected.withLockedValue { $0 = true }
        board.connected(role)
        unconfirmed = [:]
        unsubscribing = [:]
        evicted = []
        onReplica = []
        let channels = Array(subscriptions.keys)
        for index in subscriptions.keys {
            subscriptions[index]?.confirmed = false
        }
        if !channels.isEmpty {
            write(subscribing: channels, on: channel)
            logger.info("redis \(role): subscribing to \(channels.count) channel(s)")
        }
        channel.closeFuture.whenComplete { _ in
            self.lost(channel, reason: "connection closed")
        }
    }

    private func lost(_ channel: any Channel, reason: String) {
        eventLoop.assertInEventLoop()
        guard case .connected(let current) = state, current === channel else { return }
        connected.withLockedValue { $0 = false }
        unconfirmed = [:]
        unsubscribing = [:]
        var waiters: [EventLoopPromise<Void>] = []
        for name in subscriptions.keys {
            subscriptions[name]?.confirmed = false
            waiters += subscriptions[name]?.waiters ?? []
            subscriptions[name]?.waiters = []
        }
        // Joins waiting for a subscription go on; it is redone on reconnect.
        waiters.forEach { $0.succeed() }
        board.lost(role, reason: reason)
        scheduleReconnect(attempt: 1, delay: configuration.reconnectBackoff.delay(attempt: 1))
        if kind == .sharded { onClusterHint("\(role) lost its connection") }
    }

    /// Sharded: an error reply in subscribe mode. One that a cluster sends
    /// for a slot it does not serve (now) leaves the connection as it is:
    /// the `SSUBSCRIBE` it answers stays unconfirmed, to be sent again (or
    /// to another shard) once the slot map is fresh. Any other ends it.
    private func refused(_ message: String, on channel: any Channel) -> Bool {
        guard case .connected(let current) = state, current === channel, RedisClusterSlot.isRedirection(message) else { return false }
        // Which command it answers is not said: every unconfirmed one is sent again after the refresh.
        unconfirmed = [:]
        logger.info("redis \(role): \(message)")
        onClusterHint("\(role): \(message)")
        return true
    }

    private func scheduleReconnect(attempt: Int, delay: Duration) {
        let next = eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.reconnect(attempt: attempt)
        }
        state = .reconnecting(attempt: attempt, next: next)
    }

    private func reconnect(attempt: Int) {
        guard case .reconnecting = state else { return }
        state = .reconnecting(attempt: attempt, next: nil)
        connect().whenComplete { result in
            guard case .reconnecting = self.state else {
                if case .success(let channel) = result { channel.close(promise: nil) }
                return
            }
            switch result {
            case .success(let channel):
                self.counters.reconnects.bump()
                self.established(channel)
            case .failure(let error):
                let delay = self.configuration.reconnectBackoff.delay(attempt: attempt + 1)
                self.board.attemptFailed(self.role, reason: "\(error)", nextIn: delay)
                self.scheduleReconnect(attempt: attempt + 1, delay: delay)
            }
        }
    }

    /// Drops the connection (it looks silent: a probe did not come back) so
    /// that it is re-established.
    func reset(reason: String, generation: Int) {
        eventLoop.execute {
            guard generation == self.generation, case .connected(let channel) = self.state else { return }
            self.logger.warning("redis \(self.role): \(reason); reconnecting")
            channel.close(promise: nil)
        }
    }

    /// Drops the connection unless it is to `master` (after a failover).
    func leave(unlessConnectedTo master: RedisHostPort) {
        eventLoop.execute {
            guard case .connected(let channel) = self.state, !master.isAddress(of: channel) else { return }
            self.logger.warning("redis subscriber: still connected to the old master after the failover to \(master); reconnecting")
            channel.close(promise: nil)
        }
    }

    /// Closes the connection for good.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let previous = self.state
            self.state = .stopped
            self.connected.withLockedValue { $0 = false }
            self.board.stopped(self.role)
            for subscription in self.subscriptions.values {
                subscription.waiters.forEach { $0.succeed() }
            }
            self.subscriptions = [:]
            switch previous {
            case .connected(let channel):
                return channel.close().recover { _ in }
            case .reconnecting(_, let next):
                next?.cancel()
                return self.eventLoop.makeSucceededVoidFuture()
            case .idle, .connecting, .stopped:
                return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }
}
