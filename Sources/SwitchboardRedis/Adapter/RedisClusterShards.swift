import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Per-topic mode on a Redis Cluster (`redis+cluster://`): Redis 7's sharded
/// pub/sub, each channel `SSUBSCRIBE`d and `SPUBLISH`ed on the master that
/// serves its hash slot.
///
/// - One ``RedisShard`` per master: one subscriber connection for all the
///   channels of its slots, never one per topic, and the publishers.
/// - The slot map (``RedisClusterTopology``) comes from ``RedisClusterDiscovery``
///   at start, every ``RedisAdapterConfiguration/clusterRefreshInterval``, and
///   soon after anything that says it changed: a `MOVED`/`ASK`/`CLUSTERDOWN`
///   answer, a `sunsubscribe` the node did not ask for (the slot moved), a
///   lost connection. A fresh map moves each wanted channel whose owner
///   changed (`SSUBSCRIBE` on the new shard, `SUNSUBSCRIBE` on the old one
///   ``linger`` later), opens shards for new masters and closes those of
///   masters that serve no slot any more, ``linger`` later.
/// - Publishing reads the map under a lock from any thread and hands the
///   message to the owning shard's publisher (for a slot that just moved,
///   the old one's: see ``apply(_:)``); a slot without a master drops it.
/// - With the outage buffer on, publishes a master answered `MOVED` come
///   back (``redirected(_:by:)``) and are published again on the new master
///   ``RedisAdapterConfiguration/clusterSwitchDelay`` after a map names it.
/// - The adapter's status board gets a `cluster` entry: reconnecting while
///   the map cannot be read, or while wanted channels have no master or stay
///   unconfirmed past a check; its detail lists the shards.
/// - Each shard's ``RedisProbe`` publishes to a channel of this node in a
///   slot its master serves (``probeChannel(for:)``, picked again when the
///   slot moves), so that a master that went silent, or a subscription it
///   stopped feeding, shows as that shard's connections reconnecting.
///
/// State lives on ``eventLoop``, the subscribers' loop, where the adapter's
/// inbound path runs too.
final class RedisClusterShards: @unchecked Sendable {
    /// What publishers on any thread read.
    private struct Routes {
        var topology = RedisClusterTopology()
        var shards: [RedisHostPort: RedisShard] = [:]
        /// Slots that moved to another master lately, with their old
        /// master and until when publishes still go there (see ``apply(_:)``).
        var moved: [Int: (master: RedisHostPort, until: ContinuousClock.Instant)] = [:]

        func shard(forSlot slot: Int) -> RedisShard? {
            if !moved.isEmpty, let (master, until) = moved[slot], ContinuousClock.now < until, let shard = shards[master] {
                return shard
            }
            return topology.owner(ofSlot: slot).flatMap { shards[$0] }
        }
    }

    let eventLoop: any EventLoop
    private let discovery: RedisClusterDiscovery
    private let configuration: RedisAdapterConfiguration
    private let board: RedisStatusBoard
    private let counters: RedisAdapterCounters
    private let logger: Logger
    private var makeShard: (RedisHostPort) -> RedisShard
    private let routes = NIOLockedValueBox(Routes())
    static let role = "cluster"

    // On `eventLoop`:
    private var topology = RedisClusterTopology()
    private var shards: [RedisHostPort: RedisShard] = [:]
    /// Shards of masters that left the map, closed after ``linger``.
    private var retiring: [RedisHostPort: RedisShard] = [:]
    /// Every wanted channel and the master it is subscribed on (`nil`: its slot has none).
    private var placed: [String: RedisHostPort?] = [:]
    private var refreshing = false
    private var refreshAgain: String?
    private var lastRefresh = ContinuousClock.now - .seconds(60)
    private var periodic: RepeatedTask?
    private var stopped = false
    /// Shards whose subscriber had unconfirmed channels at the last check.
    private var unconfirmedAtLastCheck: Set<RedisHostPort> = []
    private var refreshes = 0
    /// Whether the log said that shards go unprobed.
    private var warnedUnprobed = false
    /// Whether the `cluster` role was last reported connected.
    private var healthy = false
    /// Why it was last reported not to be.
    private var unhealthyReason: String?
    /// A publish a master redirected, waiting for a slot map that names another master.
    private struct Redirected {
        var command: ByteBuffer
        /// The master that answered `MOVED`.
        var by: RedisHostPort
        /// Fresh maps read since that still named it.
        var staleMaps = 0
        /// Answered 0 receivers after a stall rather than `MOVED`: if the
        /// map goes on naming `by`, it was delivered there (to nobody) and
        /// is not sent again.
        var unheard = false
    }

    /// Publishes a master redirected, for the next fresh slot map.
    private var toReroute: [Redirected] = []
    /// How many fresh maps may still name the master that redirected a
    /// publish (a node asked before it heard of the move) before it is dropped.
    static let maximumStaleMaps = 10
    /// The same for a publish answered 0 receivers after a stall: the
    /// master that ran it as a demoted one knows of the failover, and it is
    /// asked first, so a map that still names it means no failover.
    static let maximumStaleMapsUnheard = 2

    /// How often wanted channels are checked to be subscribed: a channel
    /// unconfirmed at two looks in a row turns the adapter's state red.
    static let checkInterval = Duration.seconds(1)

    /// How long a node stays subscribed to a channel on the master its slot
    /// left (and keeps the connections of a master that left the map):
    /// twice ``RedisAdapterConfiguration/clusterSwitchDelay``. The old master
    /// takes publishes until it hears of the move itself, which can be later
    /// than this node reads it from another; its subscribers must still be
    /// there (breaking before making lost a failover's handover).
    private var linger: Duration { configuration.clusterSwitchDelay * 2 }

    /// Refreshes no closer together than this, however many hints arrive.
    static let minimumRefreshSpacing = Duration.milliseconds(100)

    init(
        discovery: RedisClusterDiscovery,
        configuration: RedisAdapterConfiguration,
        eventLoop: any EventLoop,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        logger: Logger,
        makeShard: @escaping (RedisHostPort) -> RedisShard
    ) {
        self.counters = counters
        self.discovery = discovery
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.board = board
        self.logger = logger
        self.makeShard = makeShard
    }

    /// The `cluster` role is fine (logged once per change).
    private func markHealthy() {
        guard !healthy else { return }
        healthy = true
        unhealthyReason = nil
        board.connected(Self.role)
    }

    /// The `cluster` role is not fine, for `reason`.
    private func markUnhealthy(_ reason: String) {
        healthy = false
        guard reason != unhealthyReason else { return }
        unhealthyReason = reason
        board.lost(Self.role, reason: reason)
    }

    /// Makes every shard's connections report what says the slot map
    /// changed (called once, before ``start()``).
    func wireHints() {
        let make = makeShard
        makeShard = { [unowned self] master in
            let shard = make(master)
            shard.subscriber.onEvicted = { channel in self.hint("a shard dropped \(channel)") }
            shard.probe.onRedirection = { reason in self.hint(reason) }
            shard.subscriber.onClusterHint = { reason in self.hint(reason) }
            for publisher in shard.publishers {
                publisher.onClusterHint = { reason in self.hint(reason) }
                publisher.onRedirected = { commands, unheard in self.redirected(commands, by: master, unheard: unheard) }
            }
            return shard
        }
    }

    // MARK: - Lifecycle

    /// Reads the slot map and connects to every master; fails if the map
    /// cannot be read or a master cannot be reached.
    func start() -> EventLoopFuture<Void> {
        board.connecting(Self.role)
        return discovery.discover(on: eventLoop).hop(to: eventLoop).flatMap { topology in
            self.lastRefresh = .now
            let started = self.apply(topology)
            return EventLoopFuture.andAllSucceed(started, on: self.eventLoop)
        }.map {
            self.markHealthy()
            let interval = TimeAmount(min(Self.checkInterval, self.configuration.clusterRefreshInterval))
            self.periodic = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.check()
            }
        }.flatMapErrorThrowing { error in
            self.board.stopped(Self.role)
            throw error
        }
    }

    /// Closes every subscriber connection (the node receives no more); the
    /// publishers stay until ``shutdown()``.
    func stopReceiving() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.stopped = true
            self.periodic?.cancel()
            let closing = (Array(self.shards.values) + Array(self.retiring.values)).map { $0.subscriber.shutdown() }
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    /// Closes every shard for good.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.stopped = true
            self.periodic?.cancel()
            self.board.stopped(Self.role)
            let closing = (Array(self.shards.values) + Array(self.retiring.values)).map { $0.shutdown() }
            self.shards = [:]
            self.retiring = [:]
            self.placed = [:]
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    // MARK: - Subscriptions

    /// Wants `channel`: subscribed on the master of its slot; completes as
    /// ``RedisSubscriber/subscribe(_:timeout:)`` does (at once while its slot
    /// has no master, the channel being recorded).
    func subscribe(_ channel: String, timeout: Duration) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            guard !self.stopped else { return self.eventLoop.makeSucceededVoidFuture() }
            let owner = self.topology.owner(of: channel)
            self.placed[channel] = .some(owner)
            guard let owner, let shard = self.shards[owner] else { return self.eventLoop.makeSucceededVoidFuture() }
            return shard.subscriber.subscribe(channel, timeout: timeout)
        }
    }

    /// No longer wants `channel`.
    func unsubscribe(_ channel: String) {
        eventLoop.execute {
            guard let owner = self.placed.removeValue(forKey: channel) else { return }
            if let owner, let shard = self.shards[owner] {
                shard.subscriber.unsubscribe(channel)
            }
        }
    }

    /// This process's probe number `sequence` came back (on ``eventLoop``).
    func probeReturned(_ sequence: UInt64) {
        eventLoop.assertInEventLoop()
        for shard in shards.values {
            shard.probe.returned(sequence)
        }
    }

    // MARK: - Publishing

    /// The publisher for `topic` on the master that serves `channel`'s slot
    /// (any thread); `nil` while the slot has no master.
    func publisher(channel: RedisChannelName, topic: String) -> RedisPublisher? {
        let slot = channel.slot
        return routes.withLockedValue { $0.shard(forSlot: slot) }?.publisher(for: topic)
    }

    /// Every publisher connection, of every shard (any thread).
    var allPublishers: [RedisPublisher] {
        routes.withLockedValue { $0.shards.values.flatMap(\.publishers) }
    }

    /// Publishes `master` answered `MOVED` (any thread): once a fresh slot
    /// map names another master for their slot, and
    /// ``RedisAdapterConfiguration/clusterSwitchDelay`` later (the other
    /// nodes' subscribers move meanwhile), published once more there. A map
    /// that still names `master` (read from a node that has not heard of the
    /// move yet) is followed by another read, up to ``maximumStaleMaps``.
    func redirected(_ commands: [ByteBuffer], by master: RedisHostPort, unheard: Bool = false) {
        eventLoop.execute {
            self.toReroute += commands.map { Redirected(command: $0, by: master, unheard: unheard) }
            self.refresh(reason: "\(commands.count) publish(es) redirected by \(master)")
        }
    }

    /// Sends the redirected publishes whose slot has another master now.
    private func reroute() {
        guard !toReroute.isEmpty else { return }
        var ready: [(RedisPublisher, ByteBuffer)] = []
        var waiting: [Redirected] = []
        var unroutable = 0
        for var redirected in toReroute {
            guard let channel = RedisCommand.publishChannel(of: redirected.command), let owner = topology.owner(of: channel),
                  let shard = shards[owner]
            else {
                unroutable += 1
                continue
            }
            if owner == redirected.by {
                redirected.staleMaps += 1
                if redirected.staleMaps <= (redirected.unheard ? Self.maximumStaleMapsUnheard : Self.maximumStaleMaps) {
                    waiting.append(redirected)
                } else if !redirected.unheard {
                    unroutable += 1
                }
                continue
            }
            ready.append((shard.publisher(for: channel), redirected.command))
        }
        toReroute = waiting
        if !waiting.isEmpty {
            refreshAgain = refreshAgain ?? "the slot map still names the master that redirected"
        }
        if unroutable > 0 {
            counters.dropped.bump(unroutable)
            logger.warning("redis cluster: \(unroutable) redirected publish(es) dropped: no other master for their slot")
        }
        guard !ready.isEmpty else { return }
        eventLoop.scheduleTask(in: TimeAmount(configuration.clusterSwitchDelay)) {
            var byPublisher: [ObjectIdentifier: (RedisPublisher, [ByteBuffer])] = [:]
            for (publisher, command) in ready {
                byPublisher[ObjectIdentifier(publisher), default: (publisher, [])].1.append(command)
            }
            var sent = 0
            for (publisher, commands) in byPublisher.values {
                sent += publisher.resend(commands)
            }
            self.counters.replayed.bump(sent)
            self.logger.notice("redis cluster: published again \(sent) message(s) a master had redirected")
        }
    }

    // MARK: - The slot map

    /// Something says the slot map changed (any thread): read it again
    /// soon, at most once per ``minimumRefreshSpacing``.
    func hint(_ reason: String) {
        eventLoop.execute {
            self.refresh(reason: reason)
        }
    }

    private func refresh(reason: String) {
        eventLoop.assertInEventLoop()
        guard !stopped else { return }
        guard !refreshing else {
            refreshAgain = refreshAgain ?? reason
            return
        }
        refreshing = true
        let wait = Self.minimumRefreshSpacing - (ContinuousClock.now - lastRefresh)
        let start: EventLoopFuture<Void> = wait > .zero
            ? eventLoop.scheduleTask(in: TimeAmount(wait)) {}.futureResult
            : eventLoop.makeSucceededVoidFuture()
        start.flatMap {
            self.lastRefresh = .now
            return self.discovery.discover(on: self.eventLoop).hop(to: self.eventLoop)
        }.whenComplete { result in
            self.refreshing = false
            guard !self.stopped else { return }
            self.refreshes += 1
            switch result {
            case .success(let topology):
                let changed = topology != self.topology
                if changed {
                    self.logger.notice("redis cluster: the slot map changed (\(reason)); \(topology.masters.count) master(s)")
                }
                _ = self.apply(topology)
                self.reroute()
                if self.unconfirmedAtLastCheck.isEmpty, self.placed.values.allSatisfy({ $0 != nil }) {
                    self.markHealthy()
                }
            case .failure(let error):
                self.markUnhealthy("cannot read the slot map: \(error)")
                self.refreshAgain = self.refreshAgain ?? "the last refresh failed"
            }
            if let again = self.refreshAgain {
                self.refreshAgain = nil
                self.refresh(reason: again)
            }
        }
    }

    /// Makes `topology` the one in use: shards for new masters (their
    /// starts returned), each wanted channel on the master that serves it
    /// now, shards of masters without slots closed.
    @discardableResult
    private func apply(_ topology: RedisClusterTopology) -> [EventLoopFuture<Void>] {
        eventLoop.assertInEventLoop()
        let previous = self.topology
        self.topology = topology
        var started: [EventLoopFuture<Void>] = []
        var created: [RedisHostPort: EventLoopFuture<Void>] = [:]
        for master in topology.masters where shards[master] == nil {
            if let shard = retiring.removeValue(forKey: master) {
                // Back before its connections were closed (a failover undone).
                shards[master] = shard
                shard.probe.start()
                continue
            }
            let shard = makeShard(master)
            shards[master] = shard
            let start = start(shard)
            created[master] = start
            started.append(start)
        }
        let gone = shards.keys.filter { !topology.masters.contains($0) }
        // With the outage buffer on, a slot that moved between two masters
        // is still published to its old master for clusterSwitchDelay: its
        // `MOVED` answers come back and are published again on the new one
        // after that delay (``redirected(_:by:)``), by when the other nodes'
        // subscribers, which may read the new map later than this node, are there.
        let now = ContinuousClock.now
        var movedSlots: [Int: (master: RedisHostPort, until: ContinuousClock.Instant)] = [:]
        if configuration.outageBuffer > 0, !previous.masters.isEmpty {
            let until = now + configuration.clusterSwitchDelay
            for slot in 0..<RedisClusterSlot.count {
                guard let old = previous.owner(ofSlot: slot), let new = topology.owner(ofSlot: slot), old != new,
                      topology.masters.contains(old)
                else { continue }
                movedSlots[slot] = (old, until)
            }
        }
        routes.withLockedValue { routes in
            routes.topology = topology
            routes.shards = shards
            routes.moved = routes.moved.filter { $0.value.until > now && topology.masters.contains($0.value.master) }
            routes.moved.merge(movedSlots) { _, new in new }
        }
        var moved = 0
        var homeless = 0
        for (channel, current) in placed {
            let owner = topology.owner(of: channel)
            if owner == nil { homeless += 1 }
            // A shard made again for the same master (its last one could not connect) starts empty.
            let remade = owner.map { created[$0] != nil } ?? false
            guard owner != current || remade else { continue }
            moved += 1
            var subscribed = eventLoop.makeSucceededVoidFuture()
            if let owner, let shard = shards[owner] {
                let timeout = configuration.connectTimeout
                // Records the channel on the shard (and, on a running
                // connection, subscribes it).
                let recorded = shard.subscriber.subscribe(channel, timeout: timeout)
                if let start = created[owner] {
                    // A new shard's connection: the confirmation comes once it is made.
                    subscribed = start.flatMap { shard.subscriber.subscribe(channel, timeout: timeout) }
                } else {
                    subscribed = recorded
                }
            }
            if let current, current != owner, let old = shards[current] {
                // Make before break: the old master may take publishes until
                // it hears of the change, and a replica serves the slot until
                // the new subscription is confirmed.
                subscribed.whenComplete { _ in old.subscriber.release(channel, after: self.linger) }
            }
            placed[channel] = .some(owner)
        }
        if moved > 0 {
            logger.info("redis cluster: \(moved) channel(s) moved to another shard")
        }
        // Channels an SSUBSCRIBE of which was answered MOVED (or which the
        // server dropped) on a shard that still serves them by this map.
        for shard in shards.values {
            shard.subscriber.resubscribeUnconfirmed()
        }
        for master in gone {
            guard let shard = shards.removeValue(forKey: master) else { continue }
            logger.notice("redis cluster: \(master) serves no slot any more; closing its connections in \(linger.humanReadable)")
            retire(shard)
        }
        placeProbes()
        if homeless > 0 {
            markUnhealthy("\(homeless) channel(s) in slots no master serves (\(topology.uncoveredSlots) slots uncovered)")
        }
        updateSummary()
        return started
    }

    /// Closes the connections of `shard`, whose master serves no slot any
    /// more, after ``linger``: until it hears of the failover that demoted
    /// it, the old master may still take publishes (its subscribers get
    /// them) and answer `MOVED` to those sent meanwhile (published again).
    private func retire(_ shard: RedisShard) {
        retiring[shard.address] = shard
        _ = shard.probe.stop()
        eventLoop.scheduleTask(in: TimeAmount(linger)) {
            guard let retired = self.retiring[shard.address], retired.subscriber === shard.subscriber else { return }
            self.retiring[shard.address] = nil
            retired.roles.forEach { self.board.removed($0) }
            _ = retired.shutdown()
        }
    }

    /// Gives each shard's probe a channel in a slot its master serves, if
    /// its current one is not (a shard just made, a slot moved): subscribed
    /// on the shard, the old one left. A probe sent before the new
    /// subscription is confirmed is not counted against the shard.
    private func placeProbes() {
        // Every master in `shards` serves a slot of `topology`.
        for (master, shard) in shards {
            let current = shard.probe.channel
            if let current, topology.owner(ofSlot: current.slot) == master { continue }
            let channel = probeChannel(for: master)
            shard.probe.channel = channel
            if let channel {
                _ = shard.subscriber.subscribe(channel.description, timeout: configuration.connectTimeout)
            }
            if let current {
                shard.subscriber.unsubscribe(current.description)
            }
        }
    }

    /// Tags tried for a probe channel before giving up (a master that serves
    /// one slot is found within this many with a certainty of 1 - 10⁻⁶).
    static let maximumProbeTags = 250_000

    /// This node's probe channel with the first tag (0, 1, …) that puts it
    /// in a slot `master` serves; `nil` if the tag decides nothing (a
    /// channel prefix with a hash tag of its own puts every channel in one
    /// slot: those shards go unprobed, said once in the log).
    private func probeChannel(for master: RedisHostPort) -> RedisChannelName? {
        let node = configuration.nodeName
        guard configuration.probeChannel(node, tag: 0).slot != configuration.probeChannel(node, tag: 1).slot else {
            if !warnedUnprobed {
                warnedUnprobed = true
                logger.warning("redis cluster: the channel prefix \(configuration.channelPrefix) has a hash tag: every channel is in one slot, and shards that do not serve it are not probed")
            }
            return nil
        }
        for tag in 0..<Self.maximumProbeTags {
            let channel = configuration.probeChannel(node, tag: tag)
            if topology.owner(ofSlot: channel.slot) == master { return channel }
        }
        return nil
    }

    /// Starts a shard; one added after the adapter's start that cannot
    /// connect is closed, and the map read again later.
    private func start(_ shard: RedisShard) -> EventLoopFuture<Void> {
        shard.start().hop(to: eventLoop).flatMapError { error in
            self.logger.warning("redis cluster: cannot connect to the master \(shard.address): \(error)")
            if self.shards[shard.address]?.subscriber === shard.subscriber {
                self.shards[shard.address] = nil
                self.routes.withLockedValue { $0.shards[shard.address] = nil }
            }
            shard.roles.forEach { self.board.removed($0) }
            _ = shard.shutdown()
            self.eventLoop.scheduleTask(in: TimeAmount(self.configuration.reconnectBackoff.maximum)) {
                self.refresh(reason: "retrying \(shard.address)")
            }
            return self.eventLoop.makeFailedFuture(error)
        }
    }

    /// The periodic look: the slot map read again, and wanted channels
    /// that stayed unconfirmed on a connected shard since the last look
    /// reported (health turns red) and subscribed again.
    private func check() {
        guard !stopped else { return }
        let shards = Array(self.shards.values)
        let counts = shards.map { $0.subscriber.subscriptionCounts }
        EventLoopFuture.whenAllSucceed(counts, on: eventLoop).whenSuccess { counts in
            var unconfirmed: Set<RedisHostPort> = []
            var missing = 0
            for (shard, count) in zip(shards, counts) where shard.subscriber.isConnected && count.confirmed < count.wanted {
                unconfirmed.insert(shard.address)
                missing += count.wanted - count.confirmed
            }
            let persistent = unconfirmed.intersection(self.unconfirmedAtLastCheck)
            self.unconfirmedAtLastCheck = unconfirmed
            if !persistent.isEmpty {
                self.markUnhealthy(
                    "\(missing) channel(s) not subscribed on \(persistent.map(\.description).sorted().joined(separator: ", "))"
                )
                self.refresh(reason: "channels not subscribed")
            } else if unconfirmed.isEmpty, self.placed.values.allSatisfy({ $0 != nil }) {
                self.markHealthy()
            }
        }
        if ContinuousClock.now - lastRefresh >= configuration.clusterRefreshInterval {
            refresh(reason: "periodic refresh")
        }
    }

    private func updateSummary() {
        let shards = topology.masters.map { "\($0) (\(topology.slotCount(of: $0)) slots)" }
        var summary = "\(shards.count) shard(s): \(shards.joined(separator: ", "))"
        let uncovered = topology.uncoveredSlots
        if uncovered > 0 { summary += "; \(uncovered) slots without a master" }
        board.setClusterSummary(summary)
    }

    // MARK: - Reading

    /// The masters in use and the channels placed on each (for statistics and tests).
    var placement: EventLoopFuture<[RedisHostPort: Int]> {
        eventLoop.submit {
            var counts: [RedisHostPort: Int] = [:]
            for case let owner? in self.placed.values {
                counts[owner, default: 0] += 1
            }
            for master in self.shards.keys where counts[master] == nil {
                counts[master] = 0
            }
            return counts
        }
    }
}
