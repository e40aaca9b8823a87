import Logging
import NIOCore
import CSwitchboardShims

/// The server side of one client connection (Phoenix's socket process):
/// routes messages to channel instances, answers heartbeats, enforces the
/// channel limit, and writes encoded messages through its
/// ``SocketTransport``, which it never looks behind.
///
/// Its mutable state belongs to the connection's event loop; the methods that
/// may be called from elsewhere (`send`, `completeJoin`, `remove`) hop there.
package final class SocketConnection: @unchecked Sendable {
    // The fields a fan-out touches for every delivery come first, so that
    // they share the object's first cache lines (Swift keeps declaration order).

    /// Set while the connection waits in the flush list of its loop.
    var flushPending = false
    private(set) var isOpen = true
    /// Broadcast messages held for the batched flush (see
    /// ``writeBroadcast(_:now:)``).
    private var heldFrame: ByteBuffer?
    /// Where encoded messages go.
    let transport: any SocketTransport
    /// The objects a write touches, for ``prefetch(aheadOf:count:_:)``; kept
    /// up to date by the transport.
    package var writePath = WritePathAddresses.none
    let version: SerializerVersion
    /// The id of the transport's framing (copied here: the fan-out compares
    /// it for every delivery).
    let framingID: UInt8
    let dispatcher: LoopDispatcher
    private var moreHeldFrames: [ByteBuffer] = []

    let eventLoop: any EventLoop
    let serializer: any Serializer
    let router: ChannelRouter
    let assigns: Assigns
    let socketID: String?
    let pubsub: PubSub
    let presence: PresenceTracker
    let limits: ServerConfiguration.Limits
    let logger: Logger
    /// Where this socket's channel handlers run: its event loop, unless the
    /// server is configured to run them on the global concurrent pool.
    let taskExecutor: (any TaskExecutor)?
    /// The server's count of channel instances that have not finished ending.
    let channelInstances: OpenCount
    /// When the socket was accepted (for ``ConnectionAgeLimit``).
    let openedAt = NIODeadline.now()

    private var instances: [String: ChannelInstance] = [:]

    /// Allocates what the sockets write (the default allocator, shared: a
    /// copy per connection would only add to its memory).
    static let allocator = ByteBufferAllocator()

    package init(
        transport: any SocketTransport,
        eventLoop: any EventLoop,
        accepted: AcceptedSocket,
        pubsub: PubSub,
        presence: PresenceTracker,
        dispatcher: LoopDispatcher,
        limits: ServerConfiguration.Limits,
        logger: Logger,
        channelInstances: OpenCount = OpenCount(),
        taskExecutor: (any TaskExecutor)? = nil
    ) {
        self.transport = transport
        self.framingID = transport.framing.id
        self.eventLoop = eventLoop
        self.version = accepted.version
        self.serializer = accepted.version.serializer
        self.router = accepted.endpoint.router
        self.assigns = accepted.assigns
        self.socketID = accepted.socketID
        self.pubsub = pubsub
        self.presence = presence
        self.dispatcher = dispatcher
        self.limits = limits
        self.logger = logger
        self.channelInstances = channelInstances
        self.taskExecutor = taskExecutor
    }

    /// For a loop that writes to many connections in turn: starts loading
    /// into the CPU cache the fields of the connection two steps ahead, and
    /// the write path (``WritePathAddresses``) of the next one, whose fields
    /// were loaded a step earlier. `connection(i)` is the connection at step
    /// `i`, if any.
    @inline(__always)
    static func prefetch(aheadOf index: Int, count: Int, _ connection: (Int) -> SocketConnection?) {
        if index &+ 2 < count, let later = connection(index &+ 2) {
            switchboard_prefetch(WritePathAddresses.address(of: later), 2)
        }
        if index &+ 1 < count, let next = connection(index &+ 1) {
            next.writePath.prefetch()
        }
    }

    // MARK: - Inbound

    /// Handles one decoded client message. Runs on the event loop.
    func receive(_ message: Message) {
        eventLoop.assertInEventLoop()
        dispatcher.counts.messagesIn &+= 1
        if message.topic == ChannelEvent.heartbeatTopic && message.event == ChannelEvent.heartbeat {
            write(.reply(Reply(joinRef: nil, ref: message.ref, topic: message.topic, status: .ok)))
            return
        }
        switch message.event {
        case ChannelEvent.join:
            join(message)
        case ChannelEvent.leave where instances[message.topic] == nil:
            // Leaving a topic that is not joined succeeds, as in Phoenix.
            write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .ok)))
        case ChannelEvent.leave:
            guard let instance = current(for: message) else { return }
            instance.enqueueFromRead(.leave(ref: message.ref))
        default:
            guard let instance = current(for: message) else { return }
            instance.enqueueFromRead(.handleIn(event: message.event, payload: message.payload, ref: message.ref))
        }
    }

    /// The joined instance a message is for; answers "unmatched topic" when
    /// there is none and drops messages with a stale join_ref.
    private func current(for message: Message) -> ChannelInstance? {
        guard let instance = instances[message.topic] else {
            writeUnmatchedTopic(message)
            return nil
        }
        if let joinRef = message.joinRef, joinRef != instance.joinRef {
            logger.debug("dropping message with stale join_ref", metadata: ["topic": "\(message.topic)", "join_ref": "\(joinRef)"])
            return nil
        }
        return instance
    }

    private func join(_ message: Message) {
        guard !pubsub.isReserved(message.topic), let route = router.route(for: message.topic) else {
            writeUnmatchedTopic(message)
            return
        }
        guard case .json(let payload) = message.payload else {
            write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .error,
                               response: .json(["reason": "join payload must be a JSON object"]))))
            return
        }
        if let previous = instances.removeValue(forKey: message.topic) {
            dispatcher.connections.channelCount -= 1
            // Phoenix closes the old instance and joins anew.
            dispatcher.unsubscribe(topic: previous.topic, id: previous.id)
            write(.message(Message(joinRef: previous.joinRef, ref: previous.joinRef, topic: previous.topic,
                                   event: ChannelEvent.close, payload: .empty)))
            previous.enqueue(.terminate(.rejoined))
        }
        guard instances.count < limits.maxChannelsPerSocket else {
            write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .error,
                               response: .json(["reason": "too many channels joined"]))))
            return
        }
        let instance = ChannelInstance(topic: message.topic, joinRef: message.joinRef, channel: route.factory(), connection: self)
        instances[message.topic] = instance
        dispatcher.connections.channelCount += 1
        instance.enqueueFromRead(.join(payload: payload, ref: message.ref))
    }

    private func writeUnmatchedTopic(_ message: Message) {
        write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .error,
                           response: .json(["reason": "unmatched topic"]))))
    }

    // MARK: - Instance lifecycle (from instance tasks)

    /// Subscribes a joined instance and sends its ok reply, then, for a topic
    /// with presence, its `presence_state`, in one event loop step, so no
    /// broadcast (nor `presence_diff`) can slip between them. Does nothing
    /// if the instance was replaced or the socket closed meanwhile.
    func completeJoin(_ instance: ChannelInstance, reply: Reply, pushesPresenceState: Bool = false) {
        onEventLoop {
            guard self.isOpen, self.instances[instance.topic] === instance else { return }
            self.dispatcher.subscribe(topic: instance.topic, .channel(instance))
            self.write(.reply(reply))
            if pushesPresenceState {
                let state = self.presence.statePayload(topic: instance.topic, joiner: instance.id)
                var message = Self.allocator.buffer(capacity: state.readableBytes + 64)
                self.serializer.encodeServerMessage(joinRef: instance.joinRef, topic: instance.topic, event: "presence_state",
                                                    encodedPayload: state, into: &message)
                self.writeFramed(self.transport.framing.wrap(message, .text, Self.allocator))
            }
        }
    }

    /// Takes an ended instance off the socket and its topic, then writes `frames`.
    func remove(_ instance: ChannelInstance, sending frames: [OutboundFrame]) {
        onEventLoop {
            self.dispatcher.unsubscribe(topic: instance.topic, id: instance.id)
            guard self.instances[instance.topic] === instance else { return }
            self.instances[instance.topic] = nil
            self.dispatcher.connections.channelCount -= 1
            for frame in frames {
                self.write(frame)
            }
        }
    }

    /// The socket closed: end every instance. Runs on the event loop.
    func closed() {
        eventLoop.assertInEventLoop()
        guard isOpen else { return }
        isOpen = false
        let ended = instances.values
        instances.removeAll()
        dispatcher.connections.channelCount -= ended.count
        for instance in ended {
            dispatcher.unsubscribe(topic: instance.topic, id: instance.id)
            instance.enqueue(.terminate(.socketClosed))
        }
    }

    // MARK: - Outbound

    /// Encodes and writes a message from any thread.
    func send(_ frame: OutboundFrame) {
        guard let bytes = encode(frame) else { return }
        if eventLoop.inEventLoop {
            // Not through `onEventLoop`: no closure to allocate on the common path.
            writeFramed(bytes)
        } else {
            eventLoop.execute { self.writeFramed(bytes) }
        }
    }

    /// Encodes and writes a message. Runs on the event loop.
    func write(_ frame: OutboundFrame) {
        guard let bytes = encode(frame) else { return }
        writeFramed(bytes)
    }

    /// Writes a message already wrapped in the transport's framing; the
    /// flush comes once per event loop step for all messages written in it.
    func writeFramed(_ bytes: ByteBuffer) {
        eventLoop.assertInEventLoop()
        guard isOpen else { return }
        dispatcher.counts.framesOut &+= 1
        // Held broadcasts first: messages leave in the order they were written.
        writeHeldFrames()
        transport.write(bytes)
        dispatcher.flusher.scheduleFlush(self)
    }

    /// Writes a broadcast message (already in the transport's framing):
    /// written and flushed `now`, or held for the batched flush, which at
    /// saturation may wait a few milliseconds for more (``BroadcastFlushPacing``).
    func writeBroadcast(_ bytes: ByteBuffer, now: Bool) {
        guard isOpen else { return }
        dispatcher.counts.framesOut &+= 1
        if now {
            // At light load nothing is held, unless this delivery runs inside
            // the loop's own flush (re-entered from a write's callbacks):
            // messages held earlier must still go first.
            writeHeldFrames()
            transport.write(bytes)
            transport.flush()
        } else {
            holdBroadcastFrame(bytes)
            dispatcher.flusher.scheduleBroadcastFlush(self)
        }
    }

    /// Holds a broadcast message until the flush rather than writing it now:
    /// a fan-out visits thousands of connections, and writing at delivery,
    /// then flushing in a second pass, would bring each connection's objects
    /// into the CPU cache twice.
    private func holdBroadcastFrame(_ bytes: ByteBuffer) {
        if heldFrame == nil {
            heldFrame = bytes
        } else {
            moreHeldFrames.append(bytes)
        }
    }

    private func writeHeldFrames() {
        guard let first = heldFrame else { return }
        heldFrame = nil
        transport.write(first)
        guard !moreHeldFrames.isEmpty else { return }
        for frame in moreHeldFrames {
            transport.write(frame)
        }
        moreHeldFrames = []
    }

    /// Called by the loop's batched flush: writes the held broadcast
    /// messages, then flushes.
    func flush() {
        writeHeldFrames()
        transport.flush()
    }

    private func encode(_ frame: OutboundFrame) -> ByteBuffer? {
        do {
            return try transport.framing.encode(frame, serializer, Self.allocator)
        } catch {
            logger.warning("cannot encode message", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The client stopped reading and the outbound queue passed its limit:
    /// stop writing, say why, and end the socket.
    func outboundOverflowed() {
        eventLoop.assertInEventLoop()
        guard isOpen else { return }
        logger.warning("closing connection: client too slow, outbound queue over limit",
                       metadata: ["limit": "\(limits.maxOutboundBytes)"])
        dispatcher.counts.slowConsumerCloses += 1
        close(.slowConsumer)
        closed()
    }

    /// Ends the connection, telling the client why; broadcasts already
    /// delivered go out first.
    func close(_ reason: DisconnectReason) {
        onEventLoop {
            guard self.transport.isActive else { return }
            if case .serviceRestart = reason {
                // Shed or drained: the client comes back elsewhere, soon.
                for instance in self.instances.values { self.presence.moving(instance: instance.id) }
            }
            self.writeHeldFrames()
            self.transport.close(reason)
        }
    }

    private func onEventLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop {
            body()
        } else {
            eventLoop.execute(body)
        }
    }
}
