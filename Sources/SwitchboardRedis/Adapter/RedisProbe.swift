import Logging
import NIOCore

/// Checks, through Redis itself, that a subscriber connection still
/// receives: every interval it publishes a probe to ``channel``, which that
/// connection subscribes, and expects it back there within the timeout.
/// One server has one probe, on this node's own channel; on a Redis
/// Cluster each shard has its own, on a channel of a slot its master serves
/// (``RedisClusterShards`` picks it).
///
/// A probe whose PUBLISH Redis acknowledged but that never came back means a
/// silent subscriber connection (a failover can leave one connected to a
/// server that no longer feeds it); one that Redis says nobody receives means
/// the subscription is gone. Either way the subscriber is reconnected. A
/// probe whose PUBLISH went unanswered means a silent server (stopped, hung,
/// or gone without closing the connection): every connection of the adapter,
/// publishers and subscriber, is replaced, and the publishers keep what Redis
/// did not answer for the new connection (with the outage buffer on).
///
/// A probe is sent every ``RedisAdapterConfiguration/probeInterval`` while
/// none is outstanding, and given ``RedisAdapterConfiguration/probeTimeout``:
/// a server that falls silent is noticed within their sum (1.5 s by default).
/// A probe queued behind a backlog of publishes is not overdue while Redis
/// keeps answering them: it counts as unanswered only once the publisher
/// connection has received no reply for a quarter of the timeout, so that a
/// busy Redis is not taken for a silent one.
///
/// A probe sent while its channel's subscription was not confirmed yet (a
/// fresh connection, a channel just moved) that Redis says nobody receives
/// is not a failure: the next one tells.
///
/// Runs on the subscriber's event loop.
final class RedisProbe: @unchecked Sendable {
    /// Numbers the probes of every ``RedisProbe`` of an adapter, so that a
    /// returning probe is told apart by its number alone. Used on the
    /// subscribers' event loop only.
    final class Numbering: @unchecked Sendable {
        private var last: UInt64 = 0

        func next() -> UInt64 {
            last += 1
            return last
        }
    }

    private struct Outstanding {
        var sequence: UInt64
        var subscriberGeneration: Int
        /// Whether the subscriber had confirmed the channel when it was sent.
        var subscribed: Bool
        var acknowledged = false
        /// The publisher's ``RedisPublisher/repliesReceived`` when last looked at.
        var publisherReplies: Int
    }

    private let eventLoop: any EventLoop
    private let subscriber: RedisSubscriber
    /// The first publisher carries the probes.
    private let publishers: [RedisPublisher]
    private var publisher: RedisPublisher { publishers[0] }
    private let configuration: RedisAdapterConfiguration
    private let instance: UInt64
    private let numbering: Numbering
    private let counters: RedisAdapterCounters
    private let logger: Logger

    /// Told when a cluster's master answered the probe with a redirection.
    var onRedirection: (String) -> Void = { _ in }

    /// Where probes go; none are sent while it is `nil`.
    var channel: RedisChannelName? {
        didSet { eventLoop.assertInEventLoop() }
    }

    private var outstanding: Outstanding?
    private var task: RepeatedTask?

    init(
        subscriber: RedisSubscriber,
        publishers: [RedisPublisher],
        channel: RedisChannelName?,
        configuration: RedisAdapterConfiguration,
        instance: UInt64,
        numbering: Numbering,
        counters: RedisAdapterCounters,
        logger: Logger
    ) {
        self.eventLoop = subscriber.eventLoop
        self.subscriber = subscriber
        self.publishers = publishers
        self.channel = channel
        self.configuration = configuration
        self.instance = instance
        self.numbering = numbering
        self.counters = counters
        self.logger = logger
    }

    func start() {
        eventLoop.execute {
            let interval = TimeAmount(self.configuration.probeInterval)
            self.task = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.send()
            }
        }
    }

    func stop() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.task?.cancel()
            self.task = nil
            self.outstanding = nil
        }
    }

    /// This process's probe number `sequence` came back (it may be another
    /// probe's of the same adapter).
    func returned(_ sequence: UInt64) {
        eventLoop.assertInEventLoop()
        if outstanding?.sequence == sequence {
            outstanding = nil
        }
    }

    private func send() {
        guard outstanding == nil, let channel, subscriber.isConnected, publisher.isConnected else { return }
        let sequence = numbering.next()
        let generation = subscriber.generation
        let subscribed = subscriber.isConfirmed(channel.description)
        outstanding = Outstanding(
            sequence: sequence, subscriberGeneration: generation, subscribed: subscribed, publisherReplies: publisher.repliesReceived
        )

        let reply = eventLoop.makePromise(of: RedisValue.self)
        let probe = RedisEnvelope(kind: .probe, originNode: configuration.nodeName, instance: instance, sequence: sequence)
        let outcome = probe.withEncoded(channel: channel) { channel, envelope in
            publisher.publish(channel: channel, message: envelope, reply: reply, bufferable: false)
        }
        guard outcome == .sent else {
            outstanding = nil
            return
        }
        reply.futureResult.whenComplete { result in
            guard self.outstanding?.sequence == sequence else { return }
            switch result {
            case .success(.integer(0)):
                self.outstanding = nil
                guard subscribed else { return }
                self.counters.probeFailures.bump()
                self.subscriber.reset(reason: "Redis reports no subscriber on the probe's channel \(channel)", generation: generation)
            case .success:
                self.outstanding?.acknowledged = true
            case .failure(let error):
                self.outstanding = nil
                // A cluster's master that no longer serves the channel's
                // slot: the shards pick another channel with the new map.
                if let message = (error as? RedisError)?.serverMessage, RedisClusterSlot.isRedirection(message) {
                    self.onRedirection("the probe on \(channel) was answered \(message)")
                    return
                }
                // An error reply (NOPERM once the user's rights were taken
                // away, say): connected, yet unable to publish. Replaced, so
                // that the reconnect checks the rights again and the health
                // detail says what is wrong. Otherwise the publisher lost its
                // connection and reconnects by itself.
                if let message = (error as? RedisError)?.serverMessage {
                    self.counters.probeFailures.bump()
                    self.publisher.reset(reason: "Redis refused the probe's PUBLISH: \(message)")
                }
            }
        }
        eventLoop.scheduleTask(in: TimeAmount(configuration.probeTimeout)) {
            self.check(sequence)
        }
    }

    private func check(_ sequence: UInt64) {
        guard let outstanding, outstanding.sequence == sequence else { return }
        if !outstanding.acknowledged {
            // Queued behind a backlog that Redis is still answering: not
            // silent. Looked at again shortly; silent once the replies stop.
            let replies = publisher.repliesReceived
            if replies != outstanding.publisherReplies {
                self.outstanding?.publisherReplies = replies
                eventLoop.scheduleTask(in: TimeAmount(configuration.probeTimeout / 4)) {
                    self.check(sequence)
                }
                return
            }
        }
        self.outstanding = nil
        counters.probeFailures.bump()
        let timeout = configuration.probeTimeout.humanReadable
        if outstanding.acknowledged {
            subscriber.reset(
                reason: "probe \(sequence) was published but did not come back within \(timeout): the subscriber connection is silent",
                generation: outstanding.subscriberGeneration
            )
        } else {
            let reason = "probe \(sequence) was not acknowledged within \(timeout): Redis or the connection to it is silent"
            for publisher in publishers {
                publisher.reset(reason: reason)
            }
            subscriber.reset(reason: reason, generation: outstanding.subscriberGeneration)
        }
    }
}
