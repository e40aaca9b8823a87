import Logging
import NIOCore
import Synchronization

/// One joined (or joining) channel of one socket: the application's
/// ``Channel`` value, its mailbox and its subscription.
///
/// Work for the instance runs through its mailbox, one item at a time, so
/// `phase` and `subscribed` are only ever touched by one task at a time.
/// The instance counts in ``SocketConnection/channelInstances`` from its
/// creation until it has ended (or its join was refused), exactly once.
package final class ChannelInstance: @unchecked Sendable {
    /// Work queued for the instance, handled in order.
    enum Work: Sendable {
        case join(payload: JSONValue, ref: String?)
        case handleIn(event: String, payload: Payload, ref: String?)
        case handleOut(event: String, payload: Payload)
        case info(any Sendable)
        case leave(ref: String?)
        case stop(reason: String)
        /// Ended from outside (socket closed, topic joined again): no frames to send.
        case terminate(TerminationReason)
    }

    private enum Phase {
        case joining
        case joined
        case closed
    }

    let topic: String
    let joinRef: String?
    let id: SubscriberID
    let channel: any Channel
    /// Events this channel intercepts; read by the dispatcher on the fastlane.
    let intercepts: Set<String>
    let connection: SocketConnection
    let logger: Logger
    private let mailbox = Mailbox<Work>()
    private var phase = Phase.joining
    private var subscribed = false

    package init(topic: String, joinRef: String?, channel: any Channel, connection: SocketConnection) {
        self.topic = topic
        self.joinRef = joinRef
        self.id = SubscriberID.next()
        self.channel = channel
        self.intercepts = type(of: channel).intercepts
        self.connection = connection
        var logger = connection.logger
        logger[metadataKey: "topic"] = "\(topic)"
        self.logger = logger
        connection.channelInstances.opened()
    }

    func enqueue(_ work: Work) {
        mailbox.enqueue(work, on: connection.taskExecutor) { work in await self.process(work) }
    }

    /// Queues work that a client frame brought, from the connection's event
    /// loop while it reads (outside any task). When handlers run on the
    /// event loop and the mailbox is idle, the handler starts at once on this
    /// thread instead of in a task scheduled for a later loop step: a reply
    /// that needs no `await` is written in the same step as the request was
    /// read, with no task hop in between.
    func enqueueFromRead(_ work: Work) {
        connection.eventLoop.assertInEventLoop()
        let executor = connection.taskExecutor
        mailbox.enqueue(work, on: executor, startImmediately: executor != nil) { work in await self.process(work) }
    }

    private func context(replyingTo ref: String? = nil, hasRef: Bool = false) -> ChannelContext {
        ChannelContext(instance: self, replyRef: hasRef ? ReplyRef(joinRef: joinRef, ref: ref, topic: topic) : nil)
    }

    private func process(_ work: Work) async {
        if case .closed = phase { return }
        do {
            switch work {
            case .join(let payload, let ref):
                try await join(payload: payload, ref: ref)
            case .handleIn(let event, let payload, let ref):
                let result = try await channel.handleIn(event: event, payload: payload, context: context(replyingTo: ref, hasRef: true))
                await handle(result, ref: ref)
            case .handleOut(let event, let payload):
                switch try await channel.handleOut(event: event, payload: payload, context: context()) {
                case .push(let payload):
                    connection.send(.message(Message(joinRef: nil, ref: nil, topic: topic, event: event, payload: payload)))
                case .drop:
                    break
                }
            case .info(let message):
                try await channel.handleInfo(message, context: context())
            case .leave(let ref):
                await end(.left, frames: [
                    .reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: .ok)),
                    closeFrame,
                ])
            case .stop(let reason):
                await end(.stopped(reason), frames: [closeFrame])
            case .terminate(let reason):
                await end(reason, frames: [])
            }
        } catch {
            logger.warning("channel crashed", metadata: ["error": "\(error)"])
            let wasJoining = { if case .joining = phase { return true } else { return false } }()
            if wasJoining, case .join(_, let ref) = work {
                connection.dispatcher.metrics.channelJoin("crashed")
                await end(.crashed(error), frames: [
                    .reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: .error, response: .json(["reason": "join crashed"]))),
                ])
            } else {
                await end(.crashed(error), frames: [
                    .message(Message(joinRef: joinRef, ref: joinRef, topic: topic, event: ChannelEvent.error, payload: .empty)),
                ])
            }
        }
    }

    /// `[join_ref, join_ref, topic, "phx_close", {}]`, as Phoenix sends it.
    private var closeFrame: OutboundFrame {
        .message(Message(joinRef: joinRef, ref: joinRef, topic: topic, event: ChannelEvent.close, payload: .empty))
    }

    private func join(payload: JSONValue, ref: String?) async throws {
        switch try await channel.join(topic: topic, payload: payload, context: context()) {
        case .ok(let response):
            let tracksPresence = Swift.type(of: channel).tracksPresence
            // A node that has just started waits for the others' presences,
            // so the client's presence_state misses nobody.
            if tracksPresence { await connection.presence.warmedUp() }
            await connection.pubsub.acquire(topic)
            subscribed = true
            phase = .joined
            connection.dispatcher.metrics.channelJoin("ok")
            connection.completeJoin(
                self, reply: Reply(joinRef: joinRef, ref: ref, topic: topic, status: .ok, response: .json(response)),
                pushesPresenceState: tracksPresence
            )
        case .error(let response):
            phase = .closed
            connection.dispatcher.metrics.channelJoin("refused")
            connection.remove(self, sending: [.reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: .error, response: .json(response)))])
            // What the refused join tracked ends with it, as when it crashes.
            connection.presence.untrackAll(instance: id)
            connection.channelInstances.closed()
        }
    }

    private func handle(_ result: HandleInResult, ref: String?) async {
        switch result {
        case .reply(let status, let payload):
            connection.send(.reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: status, response: payload)))
        case .noReply:
            break
        case .stop(let reason, let reply):
            var frames: [OutboundFrame] = []
            if let (status, payload) = reply {
                frames.append(.reply(Reply(joinRef: joinRef, ref: ref, topic: topic, status: status, response: payload)))
            }
            frames.append(closeFrame)
            await end(.stopped(reason), frames: frames)
        }
    }

    /// Ends the instance: leaves the topic, takes it off the socket (writing
    /// `frames` first), and runs the channel's `terminate`.
    private func end(_ reason: TerminationReason, frames: [OutboundFrame]) async {
        phase = .closed
        connection.remove(self, sending: frames)
        connection.presence.untrackAll(instance: id)
        if subscribed {
            subscribed = false
            await connection.pubsub.release(topic)
        }
        await channel.terminate(reason: reason, context: context())
        logger.debug("channel ended", metadata: ["reason": "\(reason)"])
        connection.channelInstances.closed()
    }
}

extension SubscriberID {
    private static let counter = Atomic<UInt64>(0)

    /// A fresh identifier, unique in this process.
    static func next() -> SubscriberID {
        SubscriberID(rawValue: counter.add(1, ordering: .relaxed).newValue)
    }
}
