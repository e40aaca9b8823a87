import Logging
import NIOCore

/// Follows failovers of a Sentinel group: keeps one connection to a
/// sentinel (the next one in turn whenever it is lost, with backoff),
/// subscribed to `+switch-master`, and hands each announced new master of
/// the group's name to `onSwitch`. After reconnecting to a sentinel (an
/// announcement may have been missed meanwhile) it asks the sentinels for
/// the master and hands that on too.
///
/// A malformed announcement is logged and skipped; an error reply ends the
/// connection, which is then made again. All state lives on ``eventLoop``.
final class RedisSentinelWatcher: @unchecked Sendable {
    static let switchMasterChannel = "+switch-master"

    let eventLoop: any EventLoop
    private let discovery: RedisSentinelDiscovery
    private let backoff: RedisBackoff
    private let logger: Logger
    private let onSwitch: @Sendable (RedisHostPort) -> Void

    private var connection: (any Channel)?
    private var retry: Scheduled<Void>?
    private var stopped = false
    private var nextSentinel = 0
    private var failedAttempts = 0
    private var hasWatched = false

    init(
        discovery: RedisSentinelDiscovery, eventLoop: any EventLoop, backoff: RedisBackoff, logger: Logger,
        onSwitch: @escaping @Sendable (RedisHostPort) -> Void
    ) {
        self.discovery = discovery
        self.eventLoop = eventLoop
        self.backoff = backoff
        self.logger = logger
        self.onSwitch = onSwitch
    }

    /// Starts watching (in the background: a sentinel that does not answer
    /// now is retried).
    func start() {
        eventLoop.execute { self.connect() }
    }

    /// Stops watching and closes the connection.
    func stop() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.stopped = true
            self.retry?.cancel()
            self.retry = nil
            guard let connection = self.connection else { return self.eventLoop.makeSucceededVoidFuture() }
            self.connection = nil
            return connection.close().recover { _ in }
        }
    }

    private func connect() {
        guard !stopped else { return }
        let sentinels = discovery.group.sentinels
        let sentinel = sentinels[nextSentinel % sentinels.count]
        nextSentinel = (nextSentinel + 1) % sentinels.count
        RedisConnector.connect(discovery.connectionSettings(sentinel, role: "watch"), on: eventLoop) { RedisCommandHandler() }
            .hop(to: eventLoop)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.watch(channel, sentinel: sentinel)
                case .failure(let error):
                    self.failed("cannot watch sentinel \(sentinel): \(error)")
                }
            }
    }

    private func watch(_ channel: any Channel, sentinel: RedisHostPort) {
        guard !stopped else {
            channel.close(promise: nil)
            return
        }
        do {
            let logger = self.logger
            try RedisSubscriberHandler.install(
                on: channel,
                onPush: { push in self.received(push) },
                onError: { error in logger.warning("redis sentinel \(sentinel) connection error: \(error)") }
            )
        } catch {
            channel.close(promise: nil)
            failed("cannot set up the connection to sentinel \(sentinel): \(error)")
            return
        }
        connection = channel
        failedAttempts = 0
        channel.writeAndFlush(RedisCommand.encode(["SUBSCRIBE", .string(Self.switchMasterChannel)], allocator: channel.allocator), promise: nil)
        logger.info("redis sentinel: watching \(sentinel) for failovers of \(discovery.group.masterName)")
        channel.closeFuture.whenComplete { _ in
            self.eventLoop.execute {
                guard self.connection === channel else { return }
                self.connection = nil
                self.failed("the connection to sentinel \(sentinel) closed")
            }
        }
        if hasWatched {
            // A failover may have been announced while no sentinel was watched.
            discovery.discover(on: eventLoop).whenSuccess { address in self.onSwitch(address) }
        }
        hasWatched = true
    }

    private func failed(_ reason: String) {
        guard !stopped else { return }
        failedAttempts += 1
        let delay = backoff.delay(attempt: failedAttempts)
        logger.log(level: failedAttempts == 1 ? .warning : .debug, "redis sentinel: \(reason); trying the next in \(delay.humanReadable)")
        retry = eventLoop.scheduleTask(in: TimeAmount(delay)) { self.connect() }
    }

    private func received(_ push: RedisPush) {
        guard case .message(_, let payload) = push else { return }
        let text = String(buffer: payload)
        guard let address = Self.newMaster(in: text, masterName: discovery.group.masterName) else {
            if !text.hasPrefix(discovery.group.masterName + " ") { return }
            logger.warning("redis sentinel: ignoring a malformed +switch-master announcement: \(text.prefix(200))")
            return
        }
        logger.notice("redis sentinel: failover of \(discovery.group.masterName); the master is now \(address)")
        discovery.switched(to: address)
        onSwitch(address)
    }

    /// The new master in a `+switch-master` message, `<name> <old-ip>
    /// <old-port> <new-ip> <new-port>`, when it is about `masterName`.
    static func newMaster(in message: String, masterName: String) -> RedisHostPort? {
        let words = message.split(separator: " ")
        guard words.count == 5, words[0] == masterName, !words[3].isEmpty,
              let port = Int(words[4]), (1...65_535).contains(port)
        else { return nil }
        return RedisHostPort(host: String(words[3]), port: port)
    }
}
