import Logging
import NIOCore
import NIOWebSocket
import CSwitchboardShims

/// The server side of one WebSocket connection (Phoenix's socket process):
/// routes frames to channel instances, answers heartbeats, enforces the
/// channel limit and writes frames out.
///
/// Its mutable state belongs to the connection's event loop; the methods that
/// may be called from elsewhere (`send`, `completeJoin`, `remove`) hop there.
package final class SocketConnection: @unchecked Sendable {
    // The fields a fan-out touches for every delivery come first, so that
    // they share the object's first cache lines (Swift keeps declaration order).

    /// Set while the connection waits in the dispatcher's flush list.
    var flushPending = false
    private(set) var isOpen = true
    /// Broadcast frames held for the dispatcher's batched flush (see
    /// ``writeBroadcast(_:now:)``).
    private var heldFrame: ByteBuffer?
    /// Where raw, already framed bytes are written: the context of the
    /// ``FramedWriter`` at the head of the pipeline, below the WebSocket encoder.
    var writerContext: ChannelHandlerContext? {
        didSet { writePath = WritePathAddresses(writerContext) }
    }
    /// The objects a write touches, for ``prefetch(aheadOf:count:_:)``.
    private var writePath = WritePathAddresses(nil)
    let version: SerializerVersion
    let dispatcher: LoopDispatcher
    private var moreHeldFrames: [ByteBuffer] = []

    let channel: any NIOCore.Channel
    let eventLoop: any EventLoop
    let serializer: any Serializer
    let router: ChannelRouter
    let assigns: Assigns
    let socketID: String?
    let pubsub: PubSub
    let limits: ServerConfiguration.Limits
    let logger: Logger
    /// Where this socket's channel handlers run: its event loop, unless the
    /// server is configured to run them on the global concurrent pool.
    let taskExecutor: (any TaskExecutor)?
    /// When the WebSocket was accepted (for ``ConnectionAgeLimit``).
    let openedAt = NIODeadline.now()

    private var instances: [String: ChannelInstance] = [:]

    package init(
        channel: any NIOCore.Channel,
        accepted: AcceptedSocket,
        pubsub: PubSub,
        dispatcher: LoopDispatcher,
        limits: ServerConfiguration.Limits,
        logger: Logger,
        taskExecutor: (any TaskExecutor)? = nil
    ) {
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.version = accepted.version
        self.serializer = accepted.version.serializer
        self.router = accepted.endpoint.router
        self.assigns = accepted.assigns
        self.socketID = accepted.socketID
        self.pubsub = pubsub
        self.dispatcher = dispatcher
        self.limits = limits
        self.logger = logger
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
        guard let route = router.route(for: message.topic) else {
            writeUnmatchedTopic(message)
            return
        }
        guard case .json(let payload) = message.payload else {
            write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .error,
                               response: .json(["reason": "join payload must be a JSON object"]))))
            return
        }
        if let previous = instances.removeValue(forKey: message.topic) {
            dispatcher.channelCount -= 1
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
        dispatcher.channelCount += 1
        instance.enqueueFromRead(.join(payload: payload, ref: message.ref))
    }

    private func writeUnmatchedTopic(_ message: Message) {
        write(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: .error,
                           response: .json(["reason": "unmatched topic"]))))
    }

    // MARK: - Instance lifecycle (from instance tasks)

    /// Subscribes a joined instance and sends its ok reply, in one event loop
    /// step, so no broadcast can slip between the two. Does nothing if the
    /// instance was replaced or the socket closed meanwhile.
    func completeJoin(_ instance: ChannelInstance, reply: Reply) {
        onEventLoop {
            guard self.isOpen, self.instances[instance.topic] === instance else { return }
            self.dispatcher.subscribe(topic: instance.topic, .channel(instance))
            self.write(.reply(reply))
        }
    }

    /// Takes an ended instance off the socket and its topic, then writes `frames`.
    func remove(_ instance: ChannelInstance, sending frames: [OutboundFrame]) {
        onEventLoop {
            self.dispatcher.unsubscribe(topic: instance.topic, id: instance.id)
            guard self.instances[instance.topic] === instance else { return }
            self.instances[instance.topic] = nil
            self.dispatcher.channelCount -= 1
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
        dispatcher.channelCount -= ended.count
        for instance in ended {
            dispatcher.unsubscribe(topic: instance.topic, id: instance.id)
            instance.enqueue(.terminate(.socketClosed))
        }
    }

    // MARK: - Outbound

    /// Encodes and writes a frame from any thread.
    func send(_ frame: OutboundFrame) {
        guard let bytes = encode(frame) else { return }
        if eventLoop.inEventLoop {
            // Not through `onEventLoop`: no closure to allocate on the common path.
            writeFramed(bytes)
        } else {
            eventLoop.execute { self.writeFramed(bytes) }
        }
    }

    /// Encodes and writes a frame. Runs on the event loop.
    func write(_ frame: OutboundFrame) {
        guard let bytes = encode(frame) else { return }
        writeFramed(bytes)
    }

    /// Writes bytes that already carry their WebSocket header; the flush comes
    /// once per event loop step for all frames written in it.
    func writeFramed(_ bytes: ByteBuffer) {
        eventLoop.assertInEventLoop()
        guard isOpen, let writerContext else { return }
        dispatcher.counts.framesOut &+= 1
        // Held broadcasts first: frames leave in the order they were written.
        writeHeldFrames(to: writerContext)
        writerContext.write(NIOAny(bytes), promise: nil)
        dispatcher.scheduleFlush(self)
    }

    /// Writes a broadcast frame (WebSocket header included): written and
    /// flushed `now`, or held for the dispatcher's flush, which at saturation
    /// may wait a few milliseconds for more (``BroadcastFlushPacing``).
    func writeBroadcast(_ bytes: ByteBuffer, now: Bool) {
        guard isOpen, let writerContext else { return }
        dispatcher.counts.framesOut &+= 1
        if now {
            // At light load nothing is held, unless this delivery runs inside
            // the dispatcher's own flush (re-entered from a write's callbacks):
            // frames held earlier must still go first.
            writeHeldFrames(to: writerContext)
            writerContext.writeAndFlush(NIOAny(bytes), promise: nil)
        } else {
            holdBroadcastFrame(bytes)
            dispatcher.scheduleBroadcastFlush(self)
        }
    }

    /// Holds a broadcast frame until the flush rather than writing it now: a
    /// fan-out visits thousands of connections, and writing at delivery, then
    /// flushing in a second pass, would bring each connection's objects into
    /// the CPU cache twice.
    private func holdBroadcastFrame(_ bytes: ByteBuffer) {
        if heldFrame == nil {
            heldFrame = bytes
        } else {
            moreHeldFrames.append(bytes)
        }
    }

    private func writeHeldFrames(to writerContext: ChannelHandlerContext) {
        guard let first = heldFrame else { return }
        heldFrame = nil
        writerContext.write(NIOAny(first), promise: nil)
        guard !moreHeldFrames.isEmpty else { return }
        for frame in moreHeldFrames {
            writerContext.write(NIOAny(frame), promise: nil)
        }
        moreHeldFrames = []
    }

    /// Called by the dispatcher's batched flush: writes the held broadcast
    /// frames, then flushes.
    func flush() {
        guard let writerContext else {
            heldFrame = nil
            moreHeldFrames = []
            return
        }
        writeHeldFrames(to: writerContext)
        writerContext.flush()
    }

    private func encode(_ frame: OutboundFrame) -> ByteBuffer? {
        do {
            return try WebSocketFraming.frame(allocator: channel.allocator) { buffer throws(ProtocolError) in
                try serializer.encodeServerFrame(frame, into: &buffer)
            }
        } catch {
            logger.warning("cannot encode frame", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The client stopped reading and the outbound queue passed its limit:
    /// stop writing, say why, and drop the connection shortly after even if
    /// the close frame cannot get through the full queue.
    func outboundOverflowed() {
        eventLoop.assertInEventLoop()
        guard isOpen else { return }
        logger.warning("closing connection: client too slow, outbound queue over limit",
                       metadata: ["limit": "\(limits.maxOutboundBytes)"])
        dispatcher.countSlowConsumerClose()
        close(code: CloseCode.slowConsumer, reason: "too slow")
        let channel = self.channel
        eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        closed()
    }

    /// Closes the connection with a WebSocket close code.
    func close(code: WebSocketErrorCode, reason: String) {
        onEventLoop {
            guard self.channel.isActive else { return }
            // Broadcasts already delivered go out before the close frame.
            if let writerContext = self.writerContext {
                self.writeHeldFrames(to: writerContext)
            }
            var data = self.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            data.write(webSocketErrorCode: code)
            data.writeString(reason)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
            let channel = self.channel
            channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
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
