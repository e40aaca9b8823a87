import NIOCore
import SwitchboardProtocol

/// The state of one ``ClientChannel``, confined to the client's event loop:
/// join and rejoin as phoenix.js does them, pushes awaiting replies, the
/// push buffer used while not joined, and event bindings.
final class ChannelCore {
    typealias PushCompletion = (Result<Reply, ClientError>) -> Void

    struct PushWaiter {
        var completion: PushCompletion
        var timer: Scheduled<Void>?
    }

    struct BufferedPush {
        var id: Int
        var event: String
        var payload: Payload
        var timeout: TimeAmount
        var completion: PushCompletion
        var timer: Scheduled<Void>?
    }

    struct JoinWaiter {
        var id: Int
        var promise: EventLoopPromise<JSONValue>
        var timer: Scheduled<Void>?
    }

    struct Binding {
        var event: String
        var ref: Int
        var handler: @Sendable (Message) -> Void
    }

    let topic: String
    let params: JSONValue
    let socket: ClientCore
    private let continuation: AsyncStream<Message>.Continuation?
    let inbox: Inbox<Message>

    private(set) var state: ClientChannel.State = .closed
    /// The ref of the current join push: the channel's `join_ref`.
    private(set) var joinRef: String?
    private var joinedOnce = false
    private var joinTimeout: TimeAmount
    private var joinTimer: Scheduled<Void>?
    private var joinWaiters: [JoinWaiter] = []
    private var lastJoinResponse: JSONValue = [:]
    private var rejoinTries = 0
    private var rejoinTimer: Scheduled<Void>?
    private var leaveRef: String?
    private var leaveTimer: Scheduled<Void>?
    private var leaveWaiters: [EventLoopPromise<Void>] = []
    private var pending = PendingReplies<PushWaiter>()
    private var pushBuffer: [BufferedPush] = []
    private var bindings: [Binding] = []
    private var nextLocalID = 0

    init(topic: String, params: JSONValue, socket: ClientCore, continuation: AsyncStream<Message>.Continuation?) {
        self.topic = topic
        self.params = params
        self.socket = socket
        self.continuation = continuation
        self.joinTimeout = socket.configuration.timeout
        self.inbox = Inbox(eventLoop: socket.eventLoop, capacity: 4096)
    }

    /// phoenix.js `isMember` for a message already routed by topic: a message
    /// carrying a `join_ref` other than the current join's is stale; one
    /// without a `join_ref` (a broadcast) always belongs.
    static func isMember(messageJoinRef: String?, currentJoinRef: String?) -> Bool {
        guard let messageJoinRef else { return true }
        return messageJoinRef == currentJoinRef
    }

    func isMember(joinRef: String?) -> Bool {
        Self.isMember(messageJoinRef: joinRef, currentJoinRef: self.joinRef)
    }

    private var canPush: Bool {
        self.socket.isConnected && self.state == .joined
    }

    private func makeLocalID() -> Int {
        self.nextLocalID += 1
        return self.nextLocalID
    }

    // MARK: - Join

    func join(timeout: TimeAmount) -> EventLoopFuture<JSONValue> {
        switch self.state {
        case .joined:
            return self.socket.eventLoop.makeSucceededFuture(self.lastJoinResponse)
        case .leaving:
            return self.socket.eventLoop.makeFailedFuture(ClientError.channelClosed)
        case .joining:
            return self.addJoinWaiter(timeout: timeout)
        case .errored:
            self.joinTimeout = timeout
            let future = self.addJoinWaiter(timeout: timeout)
            if self.socket.isConnected {
                self.rejoin()
            }
            return future
        case .closed:
            self.joinTimeout = timeout
            self.socket.register(self)
            let future = self.addJoinWaiter(timeout: timeout)
            self.rejoin()
            return future
        }
    }

    private func addJoinWaiter(timeout: TimeAmount) -> EventLoopFuture<JSONValue> {
        let promise = self.socket.eventLoop.makePromise(of: JSONValue.self)
        let id = self.makeLocalID()
        let timer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, let index = self.joinWaiters.firstIndex(where: { $0.id == id }) else { return }
            let waiter = self.joinWaiters.remove(at: index)
            waiter.promise.fail(ClientError.timeout)
        }
        self.joinWaiters.append(JoinWaiter(id: id, promise: promise, timer: timer))
        return promise.futureResult
    }

    private func completeJoinWaiters(_ result: Result<JSONValue, ClientError>) {
        let waiters = self.joinWaiters
        self.joinWaiters.removeAll()
        for waiter in waiters {
            waiter.timer?.cancel()
            switch result {
            case .success(let response): waiter.promise.succeed(response)
            case .failure(let error): waiter.promise.fail(error)
            }
        }
    }

    /// Fails the callers awaiting `join` (the channel keeps its state).
    func failJoinWaiters(_ error: ClientError) {
        self.completeJoinWaiters(.failure(error))
    }

    /// Sends a fresh `phx_join` with a new join_ref (phoenix.js `rejoin`).
    private func rejoin() {
        guard self.state != .leaving else { return }
        self.rejoinTimer?.cancel()
        self.rejoinTimer = nil
        self.socket.leaveOpenTopic(self.topic, except: self)
        if self.joinedOnce {
            self.socket.statistics.rejoins += 1
        }
        self.state = .joining
        let ref = self.socket.makeRef()
        self.joinRef = ref
        self.joinTimer?.cancel()
        self.joinTimer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: self.joinTimeout) { [weak self] in
            guard let self else { return }
            self.joinTimedOut(ref: ref)
        }
        let message = Message(joinRef: ref, ref: ref, topic: self.topic, event: ChannelEvent.join, payload: .json(self.params))
        if case .failure(let error) = self.socket.send(message) {
            self.joinTimer?.cancel()
            self.joinTimer = nil
            self.completeJoinWaiters(.failure(error))
            self.close(error: error)
        }
    }

    private func joinReplied(_ reply: Reply) {
        self.joinTimer?.cancel()
        self.joinTimer = nil
        let response: JSONValue
        switch reply.response {
        case .json(let value): response = value
        case .binary: response = .null
        }
        if reply.status == .ok {
            self.state = .joined
            self.joinedOnce = true
            self.rejoinTries = 0
            self.rejoinTimer?.cancel()
            self.rejoinTimer = nil
            self.lastJoinResponse = response
            self.completeJoinWaiters(.success(response))
            let buffered = self.pushBuffer
            self.pushBuffer.removeAll()
            for push in buffered {
                push.timer?.cancel()
                self.sendPush(event: push.event, payload: push.payload, timeout: push.timeout, completion: push.completion)
            }
        } else {
            self.completeJoinWaiters(.failure(.replyError(reply.status, response)))
            if self.joinedOnce {
                self.state = .errored
                self.scheduleRejoinIfConnected()
            } else {
                self.close(error: .replyError(reply.status, response))
            }
        }
    }

    private func joinTimedOut(ref: String) {
        guard self.state == .joining, self.joinRef == ref else { return }
        self.joinTimer = nil
        // As phoenix.js: tell the server to drop the join it may still process.
        if self.socket.isConnected {
            let leave = Message(joinRef: ref, ref: self.socket.makeRef(), topic: self.topic, event: ChannelEvent.leave)
            _ = self.socket.send(leave)
        }
        self.joinRef = nil
        self.completeJoinWaiters(.failure(.timeout))
        if self.joinedOnce {
            self.state = .errored
            self.scheduleRejoinIfConnected()
        } else {
            self.close(error: .timeout)
        }
    }

    private func scheduleRejoinIfConnected() {
        guard self.socket.isConnected else { return }
        self.rejoinTimer?.cancel()
        self.rejoinTries += 1
        let delay = self.socket.configuration.rejoinBackoff.delay(attempt: self.rejoinTries, using: &self.socket.rng)
        self.rejoinTimer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self else { return }
            self.rejoinTimer = nil
            if self.socket.isConnected && self.state == .errored {
                self.rejoin()
            }
        }
    }

    // MARK: - Leave

    func leave(timeout: TimeAmount) -> EventLoopFuture<Void> {
        self.rejoinTimer?.cancel()
        self.rejoinTimer = nil
        self.joinTimer?.cancel()
        self.joinTimer = nil
        switch self.state {
        case .closed:
            return self.socket.eventLoop.makeSucceededFuture(())
        case .leaving:
            let promise = self.socket.eventLoop.makePromise(of: Void.self)
            self.leaveWaiters.append(promise)
            return promise.futureResult
        case .joined, .joining, .errored:
            let wasJoined = self.state == .joined
            let wasJoining = self.state == .joining
            self.completeJoinWaiters(.failure(.channelClosed))
            self.state = .leaving
            let promise = self.socket.eventLoop.makePromise(of: Void.self)
            self.leaveWaiters.append(promise)
            if self.socket.isConnected && (wasJoined || wasJoining) {
                let ref = self.socket.makeRef()
                self.leaveRef = ref
                _ = self.socket.send(Message(joinRef: self.joinRef, ref: ref, topic: self.topic, event: ChannelEvent.leave))
                if wasJoined {
                    self.leaveTimer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                        guard let self else { return }
                        self.leaveDone()
                    }
                    return promise.futureResult
                }
            }
            self.leaveDone()
            return promise.futureResult
        }
    }

    private func leaveDone() {
        self.leaveTimer?.cancel()
        self.leaveTimer = nil
        self.leaveRef = nil
        self.close(error: .channelClosed)
    }

    /// Closes the channel for good: unregistered, every waiter failed with `error`.
    func close(error: ClientError) {
        self.state = .closed
        self.joinTimer?.cancel()
        self.joinTimer = nil
        self.rejoinTimer?.cancel()
        self.rejoinTimer = nil
        self.socket.unregister(self)
        self.completeJoinWaiters(.failure(error))
        self.failPending(error)
        self.failBuffered(error)
        let leaveWaiters = self.leaveWaiters
        self.leaveWaiters.removeAll()
        for waiter in leaveWaiters {
            waiter.succeed(())
        }
    }

    // MARK: - Push

    func push(event: String, payload: Payload, timeout: TimeAmount, completion: @escaping PushCompletion) {
        switch self.state {
        case .closed:
            completion(.failure(.notJoined))
        case .leaving:
            completion(.failure(.channelClosed))
        case .joined where self.socket.isConnected:
            self.sendPush(event: event, payload: payload, timeout: timeout, completion: completion)
        case .joined, .joining, .errored:
            let id = self.makeLocalID()
            let timer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                guard let self, let index = self.pushBuffer.firstIndex(where: { $0.id == id }) else { return }
                let push = self.pushBuffer.remove(at: index)
                push.completion(.failure(.timeout))
            }
            self.pushBuffer.append(
                BufferedPush(id: id, event: event, payload: payload, timeout: timeout, completion: completion, timer: timer)
            )
        }
    }

    private func sendPush(event: String, payload: Payload, timeout: TimeAmount, completion: @escaping PushCompletion) {
        let ref = self.socket.makeRef()
        let message = Message(joinRef: self.joinRef, ref: ref, topic: self.topic, event: event, payload: payload)
        if case .failure(let error) = self.socket.send(message) {
            completion(.failure(error))
            return
        }
        let timer = self.socket.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, let waiter = self.pending.take(ref: ref) else { return }
            waiter.completion(.failure(.timeout))
        }
        self.pending.insert(ref: ref, topic: self.topic, waiter: PushWaiter(completion: completion, timer: timer))
    }

    private func failPending(_ error: ClientError) {
        for waiter in self.pending.removeAll() {
            waiter.timer?.cancel()
            waiter.completion(.failure(error))
        }
    }

    private func failBuffered(_ error: ClientError) {
        let buffered = self.pushBuffer
        self.pushBuffer.removeAll()
        for push in buffered {
            push.timer?.cancel()
            push.completion(.failure(error))
        }
    }

    // MARK: - Inbound

    /// A reply routed to this channel (topic and join_ref already checked).
    func handleReply(_ reply: Reply) {
        if let ref = reply.ref {
            if ref == self.joinRef && self.state == .joining {
                self.joinReplied(reply)
                return
            }
            if ref == self.leaveRef {
                self.leaveDone()
                return
            }
        }
        if let waiter = self.pending.take(matching: reply) {
            waiter.timer?.cancel()
            waiter.completion(.success(reply))
        }
    }

    /// A message routed to this channel (topic and join_ref already checked).
    func handleMessage(_ message: Message) {
        switch message.event {
        case ChannelEvent.error:
            self.serverError()
        case ChannelEvent.close:
            self.serverClose()
        default:
            break
        }
        self.deliver(message)
    }

    private func serverError() {
        switch self.state {
        case .joined, .joining:
            self.joinTimer?.cancel()
            self.joinTimer = nil
            self.state = .errored
            self.failPending(.channelError)
            self.scheduleRejoinIfConnected()
        case .leaving, .closed, .errored:
            break
        }
    }

    private func serverClose() {
        switch self.state {
        case .leaving:
            self.leaveDone()
        case .joined, .joining:
            if self.socket.configuration.rejoinOnServerClose {
                self.joinTimer?.cancel()
                self.joinTimer = nil
                self.state = .errored
                self.failPending(.channelClosed)
                self.scheduleRejoinIfConnected()
            } else {
                self.close(error: .channelClosed)
            }
        case .errored:
            self.close(error: .channelClosed)
        case .closed:
            break
        }
    }

    private func deliver(_ message: Message) {
        if !self.bindings.isEmpty {
            let bindings = self.bindings
            for binding in bindings where binding.event == message.event {
                binding.handler(message)
            }
        }
        let record = self.socket.configuration.recordsMessages
        if record {
            self.continuation?.yield(message)
        }
        self.inbox.deliver(message, record: record)
    }

    // MARK: - Socket state

    /// The socket opened: errored channels rejoin at once (phoenix.js `onOpen`).
    func connectionOpened() {
        self.rejoinTimer?.cancel()
        self.rejoinTimer = nil
        self.rejoinTries = 0
        if self.state == .errored {
            self.rejoin()
        }
    }

    /// The socket closed: a joined or joining channel is errored and will
    /// rejoin on the next open; replies awaited on the old connection never come.
    func connectionClosed() {
        self.rejoinTimer?.cancel()
        self.rejoinTimer = nil
        switch self.state {
        case .joined, .joining:
            self.joinTimer?.cancel()
            self.joinTimer = nil
            self.state = .errored
            self.failPending(.disconnected)
        case .leaving:
            self.leaveDone()
        case .errored, .closed:
            self.failPending(.disconnected)
        }
    }

    // MARK: - Bindings

    func bind(event: String, ref: Int, handler: @escaping @Sendable (Message) -> Void) {
        self.bindings.append(Binding(event: event, ref: ref, handler: handler))
    }

    func unbind(event: String, ref: Int?) {
        self.bindings.removeAll { $0.event == event && (ref == nil || $0.ref == ref) }
    }

    /// Ends the `messages` stream and fails `nextMessage` waiters (client shut down).
    func finish() {
        self.continuation?.finish()
        self.inbox.failWaiters(ClientError.disconnected)
    }
}
