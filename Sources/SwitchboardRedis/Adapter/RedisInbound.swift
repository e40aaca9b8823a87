import Logging
import NIOCore
import Switchboard

/// Turns what the subscriber connection receives into local deliveries:
/// decodes the envelope, skips this process's own messages (already
/// delivered locally), notices another process using this node's name,
/// hands probes back to the ``RedisProbe``, and in global mode drops
/// broadcasts for topics without local subscribers.
///
/// Runs on the subscriber's event loop; its state lives there.
final class RedisInbound: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let nodeName: String
    private let instance: UInt64
    private let mode: RedisMode
    private let limits: DecodingLimits
    private let board: RedisStatusBoard
    private let counters: RedisAdapterCounters
    private let logger: Logger

    private var deliver: (@Sendable (PubSubMessage) -> Void)?
    /// Called with the sequence number of this process's probes as they come back.
    var onProbe: (UInt64) -> Void = { _ in }
    /// Global mode: the topics with local subscribers.
    private var topics: Set<String> = []
    private var malformedLog = RateLimitedLog(interval: .seconds(1))

    init(
        eventLoop: any EventLoop,
        nodeName: String,
        instance: UInt64,
        mode: RedisMode,
        limits: DecodingLimits,
        board: RedisStatusBoard,
        counters: RedisAdapterCounters,
        logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.nodeName = nodeName
        self.instance = instance
        self.mode = mode
        self.limits = limits
        self.board = board
        self.counters = counters
        self.logger = logger
    }

    func start(deliver: @escaping @Sendable (PubSubMessage) -> Void) -> EventLoopFuture<Void> {
        eventLoop.submit { self.deliver = deliver }
    }

    func stop() -> EventLoopFuture<Void> {
        eventLoop.submit { self.deliver = nil }
    }

    /// Global mode: let broadcasts for `topic` through.
    func addTopic(_ topic: String) -> EventLoopFuture<Void> {
        eventLoop.submit { _ = self.topics.insert(topic) }
    }

    /// Global mode: drop broadcasts for `topic` again.
    func removeTopic(_ topic: String) {
        eventLoop.execute { self.topics.remove(topic) }
    }

    /// A message arrived on the Redis channel `channel`.
    func received(channel: ByteBuffer, payload: ByteBuffer) {
        eventLoop.assertInEventLoop()
        let envelope: RedisEnvelope
        do {
            envelope = try RedisEnvelope(decoding: payload, limits: limits)
        } catch {
            counters.malformedEnvelopes.bump()
            malformedLog.log(logger) { suppressed in
                "redis: dropped a message on \(String(buffer: channel)): \(error)\(suppressed > 0 ? " (and \(suppressed) more since the last report)" : "")"
            }
            return
        }
        if envelope.originNode == nodeName {
            if envelope.instance == instance {
                if envelope.kind == .probe { onProbe(envelope.sequence) }
                return
            }
            counters.duplicateNodeEnvelopes.bump()
            board.duplicateSeen(instance: envelope.instance)
        }
        guard envelope.kind != .probe else { return }
        if mode == .global, envelope.kind == .broadcast, !topics.contains(envelope.topic) {
            return
        }
        guard let deliver else { return }
        counters.received.bump()
        deliver(envelope.message)
    }
}
