import NIOCore

/// Matches the replies of pipelined commands to their requests, in order: the
/// writer sends ``RedisRequest``s (many commands in flight at once) and each
/// reply completes the next ``RedisReplySlot``.
///
/// Replies to fire-and-forget publishes are tallied and handed to
/// `onPublishReplies` once per read burst (`channelReadComplete`), not one
/// call per reply, with the count of every command answered in the burst
/// (those with a waiting promise too), which a publisher that keeps its
/// unanswered messages needs. When the connection ends, waiting promises fail with
/// ``RedisError/connectionClosed`` and publishes still unanswered are reported
/// through `onClose`. Errors (the decoder's included) go to `onError`, then the
/// connection is closed.
final class RedisCommandHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = RedisValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    /// Publish replies of one read burst.
    struct PublishReplies {
        /// Integer replies (accepted by Redis).
        var acknowledged = 0
        /// Error replies, with the last message.
        var failed = 0
        var lastError: String?
        /// Replies to commands with a promise (the handshake's left out).
        var requests = 0
        /// With ``collectsRedirections``: the positions, among the commands
        /// answered in this burst, of publishes answered `MOVED`/`ASK`/
        /// `TRYAGAIN`/`CLUSTERDOWN` (a cluster's "not here, not now").
        var redirected: [Int] = []
        /// With ``collectsRedirections``: the positions of publishes answered
        /// 0 receivers soon after the replies had stalled (see ``stall``).
        var unheardAfterStall: [Int] = []

        /// Every command answered: publishes and requests.
        var commands: Int { acknowledged + failed + requests }

        var isEmpty: Bool { commands == 0 }
    }

    private var pending = CircularBuffer<RedisReplySlot>(initialCapacity: 16)
    private var tally = PublishReplies()
    /// Replies of the handshake still to come: not in ``tally``. The
    /// handshake's last reply completes the connection, whose user may
    /// write before this read burst is reported; counted, the handshake's
    /// replies would pass for answers to those commands.
    private var handshakeRepliesLeft = 0
    private let onPublishReplies: (PublishReplies) -> Void
    private let onClose: (_ unansweredPublishes: Int) -> Void
    private let onError: (any Error) -> Void
    /// Whether to note which publishes a cluster redirected (a sharded publisher).
    private let collectsRedirections: Bool
    /// With ``collectsRedirections``: since when commands have waited for a
    /// reply (the last reply burst, or the first command after none waited).
    private var waitingSince: NIODeadline?
    /// Until when 0-receiver replies are noted: ``unheardWindow`` after
    /// replies that came back from a stall.
    private var notesUnheardUntil: NIODeadline?
    /// Whether the burst being read notes them (`nil` between bursts).
    private var burstNotesUnheard: Bool?

    /// Replies that stop this long while publishes wait, then come back as
    /// 0 receivers, are those of a master that held them paused while it
    /// handed a `CLUSTER FAILOVER` over: it runs them once it is a replica
    /// and has dropped its subscribers. Their publishes are handed back like
    /// redirected ones, to go again once the slot map names the new master
    /// (and dropped if it still names the same one).
    static let stall = TimeAmount.milliseconds(10)
    /// How long after such a stall 0-receiver replies are handed back: the
    /// demoted master also takes, as a replica, what is sent to it until the
    /// node reads the new slot map. Some may then come twice (a replica
    /// passes what it takes to its master, whose subscribers may already
    /// include other nodes).
    static let unheardWindow = TimeAmount.milliseconds(200)

    init(
        collectsRedirections: Bool = false,
        onPublishReplies: @escaping (PublishReplies) -> Void = { _ in },
        onClose: @escaping (_ unansweredPublishes: Int) -> Void = { _ in },
        onError: @escaping (any Error) -> Void = { _ in }
    ) {
        self.onPublishReplies = onPublishReplies
        self.onClose = onClose
        self.onError = onError
        self.collectsRedirections = collectsRedirections
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if request.isHandshake {
            handshakeRepliesLeft += request.replies.reduce(0) { $0 + $1.commandCount }
        }
        if collectsRedirections, pending.isEmpty {
            waitingSince = .now()
        }
        for slot in request.replies {
            if case .publishes(let count) = slot, case .publishes(let previous)? = pending.last {
                pending[pending.index(before: pending.endIndex)] = .publishes(count: previous + count)
            } else {
                pending.append(slot)
            }
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if collectsRedirections, burstNotesUnheard == nil {
            let now = NIODeadline.now()
            if let waitingSince, now - waitingSince >= Self.stall {
                notesUnheardUntil = now + Self.unheardWindow
            }
            burstNotesUnheard = notesUnheardUntil.map { now < $0 } ?? false
        }
        guard let slot = pending.first else {
            // Replies parsed in the same read after the connection was closed
            // (a failed handshake closes it at its first error) are moot.
            guard context.channel.isActive else { return }
            onError(RedisError.unexpectedReply("a reply to no command: \(value)"))
            context.close(promise: nil)
            return
        }
        switch slot {
        case .promise(let promise):
            pending.removeFirst()
            if handshakeRepliesLeft > 0 {
                handshakeRepliesLeft -= 1
            } else {
                tally.requests += 1
            }
            if case .error(let message) = value {
                promise.fail(RedisError.server(message))
            } else {
                promise.succeed(value)
            }
        case .publishes(let count):
            if count == 1 {
                pending.removeFirst()
            } else {
                pending[pending.startIndex] = .publishes(count: count - 1)
            }
            if case .error(let message) = value {
                if collectsRedirections, RedisClusterSlot.isRedirection(message) {
                    tally.redirected.append(tally.commands)
                }
                tally.failed += 1
                tally.lastError = message
            } else {
                if burstNotesUnheard == true, case .integer(0) = value {
                    tally.unheardAfterStall.append(tally.commands)
                }
                tally.acknowledged += 1
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if collectsRedirections {
            burstNotesUnheard = nil
            waitingSince = pending.isEmpty ? nil : .now()
        }
        reportPublishReplies()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportPublishReplies()
        failPending()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onError(error)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failPending()
    }

    private func reportPublishReplies() {
        guard !tally.isEmpty else { return }
        let replies = tally
        tally = PublishReplies()
        onPublishReplies(replies)
    }

    private func failPending() {
        let slots = pending
        pending.removeAll()
        var unansweredPublishes = 0
        for slot in slots {
            switch slot {
            case .promise(let promise): promise.fail(RedisError.connectionClosed)
            case .publishes(let count): unansweredPublishes += count
            }
        }
        if unansweredPublishes > 0 {
            onClose(unansweredPublishes)
        }
    }
}
