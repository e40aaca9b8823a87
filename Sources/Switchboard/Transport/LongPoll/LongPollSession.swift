import NIOCore

/// The long-poll transport of one socket (Phoenix's `LongPoll.Server`): the
/// messages written to the socket wait in a queue until the client polls;
/// a poll that finds none is held (parked) for up to the window and answered
/// as soon as one is written. The client's messages arrive in POSTs
/// (``receive(_:)``).
///
/// A session costs no task while idle: the queue, a parked poll's promise
/// and one timer. Its client must poll: a session nobody polled for one and
/// a half windows is closed, as a WebSocket whose heartbeats stopped. What
/// the socket wrote before it closed is still handed to the next poll; the
/// poll after that finds the session gone (410), and the client reconnects.
///
/// Every method runs on the session's event loop.
package final class LongPollSession: SocketTransport, @unchecked Sendable {
    /// How a poll is answered.
    enum PollAnswer: Sendable {
        /// The queued messages, each already a JSON string (``MessageFraming/longPoll``).
        case messages([ByteBuffer])
        /// Nothing came within the window.
        case noContent
        /// The session is gone.
        case gone
    }

    /// The signed token that names this session.
    let token: String
    /// The socket path the session belongs to.
    let path: String
    let eventLoop: any EventLoop
    package let framing = MessageFraming.longPoll
    /// The socket on this transport, set once it exists.
    var connection: SocketConnection?

    private let window: TimeAmount
    private let maxQueuedBytes: Int
    private var queue: [ByteBuffer] = []
    private var queuedBytes = 0
    private var parked: (promise: EventLoopPromise<PollAnswer>, timeout: Scheduled<Void>)?
    /// Closes the session when no poll came for 1.5 windows; armed while no poll is parked.
    private var inactivity: Scheduled<Void>?
    private var rateLimiter: InboundRateLimiter?
    private var state = State.open
    /// Called once, with the socket, when it closes: it no longer counts as a connection.
    private let socketClosed: (SocketConnection) -> Void
    /// Called once, when the socket has closed and its last messages were
    /// taken (or given up on): forget the session.
    private let forget: () -> Void

    private enum State {
        case open
        /// The socket closed; the queue waits for one more poll.
        case closed
        /// Forgotten: every poll is answered ``PollAnswer/gone``.
        case ended
    }

    init(
        token: String, path: String, eventLoop: any EventLoop, window: TimeAmount, maxQueuedBytes: Int,
        inboundRate: MessageRate?, socketClosed: @escaping (SocketConnection) -> Void, forget: @escaping () -> Void
    ) {
        self.token = token
        self.path = path
        self.eventLoop = eventLoop
        self.window = window
        self.maxQueuedBytes = maxQueuedBytes
        self.rateLimiter = inboundRate.map { InboundRateLimiter(rate: $0) }
        self.socketClosed = socketClosed
        self.forget = forget
        armInactivity()
    }

    // MARK: - Polls and posts

    /// Answers a poll at once with what is queued, or holds it until a
    /// message is written or the window passes. A poll that arrives while
    /// another is held replaces it, and the older one is answered with no
    /// content: a session holds at most one poll.
    func poll() -> EventLoopFuture<PollAnswer> {
        eventLoop.assertInEventLoop()
        switch state {
        case .ended:
            return eventLoop.makeSucceededFuture(.gone)
        case .closed:
            let answer = takeQueue()
            end()
            return eventLoop.makeSucceededFuture(answer ?? .gone)
        case .open:
            if let answer = takeQueue() {
                armInactivity()
                return eventLoop.makeSucceededFuture(answer)
            }
            answerParked(.noContent)
            inactivity?.cancel()
            inactivity = nil
            let promise = eventLoop.makePromise(of: PollAnswer.self)
            let timeout = eventLoop.assumeIsolated().scheduleTask(in: window) { [self] in
                answerParked(.noContent)
                armInactivity()
            }
            parked = (promise, timeout)
            return promise.futureResult
        }
    }

    /// Hands the client's messages of one POST to the socket, in order.
    /// `false` when the session is not open, or closed because of them
    /// (over the message rate, or not a message of the socket's serializer).
    func receive(_ messages: [(bytes: ByteBuffer, kind: FrameKind)]) -> Bool {
        eventLoop.assertInEventLoop()
        guard state == .open, let connection else { return false }
        for (bytes, kind) in messages {
            guard rateLimiter?.admit() != false else {
                connection.logger.notice("closing long-poll session: message rate limit exceeded")
                connection.close(.rateLimited)
                return false
            }
            do {
                connection.receive(try connection.serializer.decodeClientFrame(bytes, kind: kind, limits: connection.limits.decoding))
            } catch {
                connection.logger.notice("closing long-poll session: malformed message", metadata: ["error": "\(error)"])
                connection.close(.malformedMessage)
                return false
            }
        }
        return true
    }

    // MARK: - SocketTransport

    package func write(_ bytes: ByteBuffer) {
        guard state == .open else { return }
        queue.append(bytes)
        queuedBytes += bytes.readableBytes
        if queuedBytes > maxQueuedBytes {
            connection?.outboundOverflowed()
        }
    }

    package func flush() {
        guard parked != nil, let answer = takeQueue() else { return }
        answerParked(answer)
        armInactivity()
    }

    /// Closes the socket. The messages it wrote before go to the next poll
    /// (the one held now, if any); a queue too large to deliver (a slow
    /// consumer's) is dropped.
    package func close(_ reason: DisconnectReason) {
        guard state == .open else { return }
        state = .closed
        if reason == .slowConsumer {
            queue = []
            queuedBytes = 0
        }
        if let connection {
            connection.closed()
            socketClosed(connection)
        }
        if parked != nil {
            answerParked(takeQueue() ?? .gone)
            end()
        } else if queue.isEmpty {
            end()
        } else {
            // The client has as long as an idle session to come for the rest.
            inactivity?.cancel()
            inactivity = eventLoop.assumeIsolated().scheduleTask(in: idleLimit) { [self] in end() }
        }
    }

    package var isActive: Bool { state == .open }

    // MARK: - Private

    private func takeQueue() -> PollAnswer? {
        guard !queue.isEmpty else { return nil }
        defer {
            queue = []
            queuedBytes = 0
        }
        return .messages(queue)
    }

    private func answerParked(_ answer: PollAnswer) {
        guard let parked else { return }
        self.parked = nil
        parked.timeout.cancel()
        parked.promise.succeed(answer)
    }

    /// How long a session may go without a poll: one and a half windows.
    private var idleLimit: TimeAmount { window + .nanoseconds(window.nanoseconds / 2) }

    private func armInactivity() {
        inactivity?.cancel()
        inactivity = eventLoop.assumeIsolated().scheduleTask(in: idleLimit) { [self] in
            connection?.logger.info("closing long-poll session: the client stopped polling")
            connection?.close(.heartbeatTimeout)
            // A connection that never existed (or is gone) still ends here.
            if state == .open { close(.heartbeatTimeout) }
        }
    }

    /// Forgets the session; what is still queued is dropped.
    private func end() {
        guard state == .closed else { return }
        state = .ended
        inactivity?.cancel()
        inactivity = nil
        answerParked(.gone)
        queue = []
        queuedBytes = 0
        connection = nil
        forget()
    }
}
