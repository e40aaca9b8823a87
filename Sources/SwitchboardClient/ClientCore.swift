import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SwitchboardProtocol

/// The state of one ``PhoenixClient``, confined to the client's event loop:
/// the connection and its attempts, reconnects, heartbeats, refs, routing of
/// received frames to channels, observers, and the choice of transport
/// (WebSocket, long-poll, and phoenix.js's fallback from one to the other).
final class ClientCore {
    enum Phase: Equatable {
        case disconnected
        case connecting
        case open
        case closing
    }

    /// A frame encoded while the socket was not open, sent when it opens.
    private struct BufferedFrame {
        var topic: String
        var joinRef: String?
        var data: ByteBuffer
        var kind: FrameKind
    }

    let configuration: PhoenixClient.Configuration
    let eventLoop: any EventLoop
    let serializer: any Serializer
    private let logger: Logger
    private let eventsContinuation: AsyncStream<ClientEvent>.Continuation
    let eventInbox: Inbox<ClientEvent>

    private(set) var phase = Phase.disconnected
    /// Identifies the current connection attempt; events of older ones are ignored.
    private(set) var connectionID = 0
    private var attemptError: (any Error)?
    /// The connection, from the start of its attempt until it closed.
    private var transport: (any ClientTransport)?
    /// The transport the next attempt uses; becomes `.longPoll` for good when
    /// the fallback rule gives up on the WebSocket.
    private(set) var transportKind: PhoenixClient.Transport
    /// The WebSocket attempt on trial under the fallback rule, if any.
    private var fallbackTrial: FallbackTrial?
    /// Start a new attempt as soon as the current connection has closed (the
    /// fallback replaced an open WebSocket).
    private var restartAfterClose = false
    private var everConnected = false
    private var userDisconnected = false
    private var isShutdown = false
    private var closeInitiatedLocally = false
    private var forceReconnect = false
    private var serverCloseCode: UInt16?
    private var serverCloseReason = ""
    private var closeTimer: Scheduled<Void>?
    private var reconnectTries = 0
    private var reconnectTimer: Scheduled<Void>?
    private var connectWaiters: [EventLoopPromise<Void>] = []
    private var disconnectWaiters: [EventLoopPromise<Void>] = []
    private var heartbeatTimer: Scheduled<Void>?
    private(set) var pendingHeartbeatRef: String?
    private var refCounter: UInt64 = 0
    private var channels: [String: [ChannelCore]] = [:]
    private var sendBuffer: [BufferedFrame] = []
    var rng = FastRandom()
    var statistics = PhoenixClient.Statistics()

    private var openCallbacks: [@Sendable () -> Void] = []
    private var closeCallbacks: [@Sendable (PhoenixClient.CloseInfo) -> Void] = []
    private var errorCallbacks: [@Sendable (any Error) -> Void] = []
    private var messageCallbacks: [@Sendable (OutboundFrame) -> Void] = []

    init(
        configuration: PhoenixClient.Configuration,
        eventLoop: any EventLoop,
        eventsContinuation: AsyncStream<ClientEvent>.Continuation
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.serializer = configuration.vsn.serializer
        self.logger = configuration.logger
        self.eventsContinuation = eventsContinuation
        self.eventInbox = Inbox(eventLoop: eventLoop, capacity: 1024, discardsSkipped: true)
        self.transportKind = configuration.transport
        self.statistics.transport = configuration.transport
    }

    var isConnected: Bool { self.phase == .open }

    /// The next message ref: `"1"`, `"2"`, … (phoenix.js `makeRef`).
    func makeRef() -> String {
        self.refCounter &+= 1
        return String(self.refCounter)
    }

    func nextMaskKey() -> WebSocketMaskingKey {
        WebSocketMaskingKey.random(using: &self.rng)
    }

    // MARK: - Connect and disconnect

    func connect() -> EventLoopFuture<Void> {
        guard !self.isShutdown else {
            return self.eventLoop.makeFailedFuture(ClientError.disconnected)
        }
        self.userDisconnected = false
        switch self.phase {
        case .open:
            return self.eventLoop.makeSucceededFuture(())
        case .connecting, .closing:
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.connectWaiters.append(promise)
            return promise.futureResult
        case .disconnected:
            self.reconnectTimer?.cancel()
            self.reconnectTimer = nil
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.connectWaiters.append(promise)
            self.startAttempt()
            return promise.futureResult
        }
    }

    func disconnect(code: UInt16, reason: String) -> EventLoopFuture<Void> {
        self.userDisconnected = true
        self.reconnectTimer?.cancel()
        self.reconnectTimer = nil
        self.reconnectTries = 0
        self.endFallbackTrial()
        self.restartAfterClose = false
        self.completeConnectWaiters(.failure(ClientError.disconnected))
        for channel in self.allChannels {
            channel.failJoinWaiters(.disconnected)
        }
        switch self.phase {
        case .disconnected:
            return self.eventLoop.makeSucceededFuture(())
        case .connecting:
            // Orphan the attempt: its late events carry an old id and are ignored.
            self.abandonAttempt()
            return self.eventLoop.makeSucceededFuture(())
        case .open:
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.disconnectWaiters.append(promise)
            self.startClose(code: code, reason: reason)
            return promise.futureResult
        case .closing:
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.disconnectWaiters.append(promise)
            return promise.futureResult
        }
    }

    /// The owning ``PhoenixClient`` is gone: close, stop reconnecting, end streams.
    func shutdown() {
        guard !self.isShutdown else { return }
        _ = self.disconnect(code: 1000, reason: "")
        self.isShutdown = true
        for channel in self.allChannels {
            channel.close(error: .disconnected)
            channel.finish()
        }
        self.channels.removeAll()
        self.eventsContinuation.finish()
        self.eventInbox.failWaiters(ClientError.disconnected)
    }

    private func startAttempt() {
        self.connectionID &+= 1
        let id = self.connectionID
        self.phase = .connecting
        self.attemptError = nil
        self.serverCloseCode = nil
        self.serverCloseReason = ""
        self.closeInitiatedLocally = false
        self.forceReconnect = false
        self.restartAfterClose = false
        let transport: any ClientTransport
        switch self.transportKind {
        case .webSocket:
            transport = WebSocketTransport(core: self, connectionID: id)
            if let threshold = self.configuration.longPollFallback {
                self.startFallbackTrial(threshold: threshold, connectionID: id)
            }
        case .longPoll:
            transport = LongPollTransport(core: self, connectionID: id)
        }
        self.transport = transport
        self.logger.debug(
            "connecting",
            metadata: [
                "host": "\(self.configuration.host)", "port": "\(self.configuration.port)",
                "transport": "\(self.transportKind)",
            ]
        )
        transport.start()
    }

    /// Drops the attempt in progress; its late reports carry an old id and
    /// are ignored.
    private func abandonAttempt() {
        self.connectionID &+= 1
        self.phase = .disconnected
        self.transport?.abort()
        self.transport = nil
    }

    /// The transport of attempt `connectionID` can carry messages; returns
    /// `false` when the attempt is no longer wanted (the transport then drops it).
    func transportOpened(connectionID: Int) -> Bool {
        guard connectionID == self.connectionID, self.phase == .connecting, self.transport != nil else {
            return false
        }
        self.connectionOpened()
        return true
    }

    /// Remembers why the current attempt is failing; the first reason wins.
    func recordAttemptError(_ error: any Error, connectionID: Int) {
        guard connectionID == self.connectionID, self.attemptError == nil else { return }
        self.attemptError = error
    }

    private func attemptFailed(_ error: any Error, connectionID: Int) {
        guard connectionID == self.connectionID, self.phase == .connecting else { return }
        self.phase = .disconnected
        self.transport = nil
        self.statistics.failedAttempts += 1
        self.logger.debug("connection attempt failed", metadata: ["error": "\(error)"])
        self.emitError(error)
        if let trial = self.fallbackTrial, trial.connectionID == connectionID, !trial.opened {
            // phoenix.js: an error of the primary transport before it opened.
            self.fallBackToLongPoll(reason: "\(error)")
            return
        }
        self.completeConnectWaiters(.failure(error))
        if self.everConnected && self.configuration.reconnect && !self.userDisconnected && !self.isShutdown {
            self.scheduleReconnect()
        }
    }

    private func connectionOpened() {
        self.phase = .open
        self.statistics.opens += 1
        if self.everConnected {
            self.statistics.reconnects += 1
        }
        self.everConnected = true
        self.reconnectTries = 0
        self.reconnectTimer?.cancel()
        self.reconnectTimer = nil
        self.logger.debug("connected")
        self.flushSendBuffer()
        self.resetHeartbeat()
        self.fallbackTrialOpened()
        self.completeConnectWaiters(.success(()))
        self.emit(.open)
        for callback in self.openCallbacks {
            callback()
        }
        for channel in self.allChannels {
            channel.connectionOpened()
        }
    }

    /// The close code and reason the connection ends with: the server's close
    /// frame, or the code a long-poll transport closes with (3410 session
    /// gone, 1008 forbidden, 1011 server error, 1005 timeout).
    func closeReceived(code: UInt16?, reason: String, connectionID: Int) {
        guard connectionID == self.connectionID else { return }
        self.serverCloseCode = code
        self.serverCloseReason = reason
        if let code {
            self.statistics.lastServerCloseCode = code
        }
        if self.phase == .open {
            self.phase = .closing
        }
    }

    func connectionError(_ error: any Error, connectionID: Int) {
        guard connectionID == self.connectionID else { return }
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        if self.phase == .connecting {
            self.recordAttemptError(error, connectionID: connectionID)
        } else {
            self.emitError(error)
        }
    }

    /// The transport of attempt `connectionID` is gone (failed attempt or
    /// closed connection).
    func transportClosed(connectionID: Int) {
        guard connectionID == self.connectionID else { return }
        self.closeTimer?.cancel()
        self.closeTimer = nil
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        self.pendingHeartbeatRef = nil
        self.transport = nil
        switch self.phase {
        case .connecting:
            let error = self.attemptError ?? ClientError.handshakeFailed("connection closed during the handshake")
            self.attemptFailed(error, connectionID: connectionID)
        case .open, .closing:
            self.connectionEnded()
        case .disconnected:
            break
        }
    }

    private func connectionEnded() {
        self.phase = .disconnected
        self.statistics.closes += 1
        let willReconnect = self.configuration.reconnect && !self.userDisconnected && !self.isShutdown
            && (self.forceReconnect || self.serverCloseCode != 1000)
        let restart = self.restartAfterClose && !self.userDisconnected && !self.isShutdown
        self.restartAfterClose = false
        let info = PhoenixClient.CloseInfo(
            code: self.serverCloseCode,
            reason: self.serverCloseReason,
            initiatedLocally: self.closeInitiatedLocally,
            willReconnect: restart || (willReconnect && self.connectWaiters.isEmpty)
        )
        self.logger.debug("closed", metadata: ["close": "\(info)"])
        for channel in self.allChannels {
            channel.connectionClosed()
        }
        self.emit(.close(info))
        for callback in self.closeCallbacks {
            callback(info)
        }
        let waiters = self.disconnectWaiters
        self.disconnectWaiters.removeAll()
        for waiter in waiters {
            waiter.succeed(())
        }
        if (restart || !self.connectWaiters.isEmpty) && !self.isShutdown {
            self.startAttempt()
        } else if willReconnect {
            self.scheduleReconnect()
        }
    }

    private func scheduleReconnect() {
        self.reconnectTimer?.cancel()
        self.reconnectTries += 1
        self.statistics.reconnectAttempts += 1
        let attempt = self.reconnectTries
        let delay = self.configuration.reconnectBackoff.delay(attempt: attempt, using: &self.rng)
        self.emit(.reconnectScheduled(attempt: attempt, delay: delay))
        self.reconnectTimer = self.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.reconnectTimer = nil
            guard self.phase == .disconnected, !self.userDisconnected, !self.isShutdown else { return }
            self.startAttempt()
        }
    }

    /// Starts the close handshake; the TCP connection is dropped if the server
    /// does not answer within the close timeout.
    private func startClose(code: UInt16, reason: String) {
        guard self.phase == .open, let transport = self.transport else { return }
        self.phase = .closing
        self.closeInitiatedLocally = true
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        let id = self.connectionID
        self.closeTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.closeTimeout) {
            guard self.connectionID == id else { return }
            self.closeTimer = nil
            self.transport?.abort()
        }
        transport.close(code: code, reason: reason)
    }

    private func completeConnectWaiters(_ result: Result<Void, any Error>) {
        let waiters = self.connectWaiters
        self.connectWaiters.removeAll()
        for waiter in waiters {
            waiter.completeWith(result)
        }
    }

    // MARK: - Long-poll fallback

    /// A WebSocket attempt under phoenix.js's `longPollFallbackMs` rule: it
    /// must open, then answer a ping, each within the threshold.
    private struct FallbackTrial {
        var connectionID: Int
        var threshold: TimeAmount
        var timer: Scheduled<Void>?
        var opened = false
        /// The ref of the ping sent once the WebSocket opened.
        var healthCheckRef: String?
    }

    private func startFallbackTrial(threshold: TimeAmount, connectionID: Int) {
        self.endFallbackTrial()
        let timer = self.eventLoop.assumeIsolated().scheduleTask(in: threshold) {
            self.fallBackToLongPoll(reason: "no WebSocket open within \(threshold.nanoseconds / 1_000_000) ms")
        }
        self.fallbackTrial = FallbackTrial(connectionID: connectionID, threshold: threshold, timer: timer)
    }

    /// The WebSocket on trial opened: phoenix.js gives it a new period to
    /// answer a ping before falling back.
    private func fallbackTrialOpened() {
        guard var trial = self.fallbackTrial, trial.connectionID == self.connectionID else { return }
        trial.timer?.cancel()
        trial.opened = true
        let ref = self.makeRef()
        trial.healthCheckRef = ref
        let threshold = trial.threshold
        trial.timer = self.eventLoop.assumeIsolated().scheduleTask(in: threshold) {
            self.fallBackToLongPoll(reason: "no ping reply within \(threshold.nanoseconds / 1_000_000) ms")
        }
        self.fallbackTrial = trial
        _ = self.send(Message(ref: ref, topic: ChannelEvent.heartbeatTopic, event: ChannelEvent.heartbeat))
    }

    private func fallbackTrialPassed() {
        self.endFallbackTrial()
        self.logger.debug("WebSocket passed the long-poll fallback check")
    }

    private func endFallbackTrial() {
        self.fallbackTrial?.timer?.cancel()
        self.fallbackTrial = nil
    }

    /// phoenix.js `fallback`: long-poll from now on, for the client's
    /// lifetime, connecting with it at once (the reconnect backoff restarts).
    private func fallBackToLongPoll(reason: String) {
        self.endFallbackTrial()
        guard self.transportKind == .webSocket, !self.userDisconnected, !self.isShutdown else { return }
        self.transportKind = .longPoll
        self.statistics.transport = .longPoll
        self.statistics.longPollFallbacks += 1
        self.logger.debug("falling back to long-poll", metadata: ["reason": "\(reason)"])
        self.reconnectTimer?.cancel()
        self.reconnectTimer = nil
        self.reconnectTries = 0
        switch self.phase {
        case .connecting:
            self.abandonAttempt()
            self.startAttempt()
        case .disconnected:
            if !self.connectWaiters.isEmpty || (self.everConnected && self.configuration.reconnect) {
                self.startAttempt()
            }
        case .open:
            self.restartAfterClose = true
            self.startClose(code: 1000, reason: "")
        case .closing:
            self.restartAfterClose = true
        }
    }

    // MARK: - Heartbeat

    private func resetHeartbeat() {
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        self.pendingHeartbeatRef = nil
        guard let interval = self.configuration.heartbeatInterval, self.transport?.sendsHeartbeats == true else { return }
        self.heartbeatTimer = self.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.sendHeartbeat()
        }
    }

    private func sendHeartbeat() {
        guard self.phase == .open, let interval = self.configuration.heartbeatInterval else { return }
        let ref = self.makeRef()
        self.pendingHeartbeatRef = ref
        _ = self.send(Message(ref: ref, topic: ChannelEvent.heartbeatTopic, event: ChannelEvent.heartbeat))
        self.heartbeatTimer = self.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.heartbeatTimedOut()
        }
    }

    private func heartbeatTimedOut() {
        guard self.phase == .open, self.pendingHeartbeatRef != nil else { return }
        self.pendingHeartbeatRef = nil
        self.statistics.heartbeatTimeouts += 1
        self.logger.debug("heartbeat timeout")
        // phoenix.js closes with 1000 but counts the close as abnormal: reconnect.
        self.forceReconnect = true
        self.startClose(code: 1000, reason: "heartbeat timeout")
    }

    private func heartbeatReplied() {
        self.pendingHeartbeatRef = nil
        self.resetHeartbeat()
    }

    // MARK: - Sending

    /// Encodes `message` and writes it, or keeps it until the socket opens.
    func send(_ message: Message) -> Result<Void, ClientError> {
        var buffer = self.transport?.allocator.buffer(capacity: 128) ?? ByteBufferAllocator().buffer(capacity: 128)
        let kind: FrameKind
        do {
            kind = try self.serializer.encodeClientMessage(message, into: &buffer)
        } catch {
            return .failure(.encodingFailed(error))
        }
        if self.phase == .open, let transport = self.transport {
            self.write(buffer, kind: kind, on: transport)
        } else {
            self.sendBuffer.append(BufferedFrame(topic: message.topic, joinRef: message.joinRef, data: buffer, kind: kind))
        }
        return .success(())
    }

    /// Writes a frame as is; fails when the socket is not open.
    func sendRaw(_ data: ByteBuffer, kind: FrameKind) -> Result<Void, ClientError> {
        guard self.phase == .open, let transport = self.transport else { return .failure(.notConnected) }
        self.write(data, kind: kind, on: transport)
        return .success(())
    }

    /// Encodes and writes `message` now; fails when the socket is not open.
    func sendNow(_ message: Message) -> Result<Void, ClientError> {
        guard self.phase == .open, let transport = self.transport else { return .failure(.notConnected) }
        var buffer = transport.allocator.buffer(capacity: 128)
        do {
            let kind = try self.serializer.encodeClientMessage(message, into: &buffer)
            self.write(buffer, kind: kind, on: transport)
            return .success(())
        } catch {
            return .failure(.encodingFailed(error))
        }
    }

    private func write(_ data: ByteBuffer, kind: FrameKind, on transport: any ClientTransport) {
        self.statistics.framesSent += 1
        transport.send(data, kind: kind)
    }

    /// Sends what was buffered while closed, dropping channel messages whose
    /// join no longer stands (the channel rejoins with a fresh join_ref anyway).
    private func flushSendBuffer() {
        guard !self.sendBuffer.isEmpty, let transport = self.transport else { return }
        let buffered = self.sendBuffer
        self.sendBuffer.removeAll()
        for frame in buffered {
            if let joinRef = frame.joinRef {
                let current = self.channels[frame.topic]?.contains { channel in
                    channel.joinRef == joinRef && (channel.state == .joining || channel.state == .joined)
                }
                guard current == true else { continue }
            }
            self.write(frame.data, kind: frame.kind, on: transport)
        }
    }

    // MARK: - Receiving

    /// One text or binary message from the server: decode, then route to the
    /// channels of its topic, on the event loop.
    func frameReceived(_ data: ByteBuffer, kind: FrameKind, connectionID: Int) {
        guard connectionID == self.connectionID else { return }
        self.statistics.framesReceived += 1
        let frame: OutboundFrame
        do {
            frame = try self.serializer.decodeServerFrame(data, kind: kind, limits: self.configuration.decodingLimits)
        } catch {
            self.statistics.decodeErrors += 1
            self.emitError(error)
            return
        }
        switch frame {
        case .reply(let reply):
            if let pending = self.pendingHeartbeatRef, reply.ref == pending {
                self.heartbeatReplied()
            }
            if let trial = self.fallbackTrial, let ref = trial.healthCheckRef, reply.ref == ref {
                self.fallbackTrialPassed()
            }
            if let channels = self.channels[reply.topic] {
                for channel in channels where channel.isMember(joinRef: reply.joinRef) {
                    channel.handleReply(reply)
                }
            }
        case .message(let message):
            if let channels = self.channels[message.topic] {
                for channel in channels where channel.isMember(joinRef: message.joinRef) {
                    channel.handleMessage(message)
                }
            }
        }
        if !self.messageCallbacks.isEmpty {
            for callback in self.messageCallbacks {
                callback(frame)
            }
        }
    }

    // MARK: - Channels

    private var allChannels: [ChannelCore] {
        self.channels.values.flatMap { $0 }
    }

    func register(_ channel: ChannelCore) {
        var list = self.channels[channel.topic] ?? []
        guard !list.contains(where: { $0 === channel }) else { return }
        list.append(channel)
        self.channels[channel.topic] = list
    }

    func unregister(_ channel: ChannelCore) {
        guard var list = self.channels[channel.topic] else { return }
        list.removeAll { $0 === channel }
        self.channels[channel.topic] = list.isEmpty ? nil : list
    }

    /// Leaves any other channel joined or joining on `topic` (phoenix.js
    /// `leaveOpenTopic`): the server keeps one channel per topic and socket.
    func leaveOpenTopic(_ topic: String, except: ChannelCore) {
        guard let list = self.channels[topic] else { return }
        for channel in list where channel !== except && (channel.state == .joined || channel.state == .joining) {
            _ = channel.leave(timeout: self.configuration.timeout)
        }
    }

    // MARK: - Observers

    func addOpenCallback(_ callback: @escaping @Sendable () -> Void) {
        self.openCallbacks.append(callback)
    }

    func addCloseCallback(_ callback: @escaping @Sendable (PhoenixClient.CloseInfo) -> Void) {
        self.closeCallbacks.append(callback)
    }

    func addErrorCallback(_ callback: @escaping @Sendable (any Error) -> Void) {
        self.errorCallbacks.append(callback)
    }

    func addMessageCallback(_ callback: @escaping @Sendable (OutboundFrame) -> Void) {
        self.messageCallbacks.append(callback)
    }

    private func emit(_ event: ClientEvent) {
        self.eventsContinuation.yield(event)
        self.eventInbox.deliver(event, record: true)
    }

    private func emitError(_ error: any Error) {
        self.emit(.error(error))
        for callback in self.errorCallbacks {
            callback(error)
        }
    }
}
