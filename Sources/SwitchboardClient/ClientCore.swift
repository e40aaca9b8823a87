import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SwitchboardProtocol

/// The state of one ``PhoenixClient``, confined to the client's event loop:
/// the connection and its attempts, reconnects, heartbeats, refs, routing of
/// received frames to channels, and observers.
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
    private var attemptChannel: (any NIOCore.Channel)?
    private var attemptError: (any Error)?
    private var connection: WebSocketClientHandler?
    /// The WebSocket handler of the attempt in progress, until its upgrade finishes.
    private var attemptHandler: WebSocketClientHandler?
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
        self.completeConnectWaiters(.failure(ClientError.disconnected))
        for channel in self.allChannels {
            channel.failJoinWaiters(.disconnected)
        }
        switch self.phase {
        case .disconnected:
            return self.eventLoop.makeSucceededFuture(())
        case .connecting:
            // Orphan the attempt: its late events carry an old id and are ignored.
            self.connectionID &+= 1
            self.phase = .disconnected
            self.attemptChannel?.close(promise: nil)
            self.attemptChannel = nil
            self.attemptHandler = nil
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
        self.attemptChannel = nil
        self.attemptHandler = nil
        self.serverCloseCode = nil
        self.serverCloseReason = ""
        self.closeInitiatedLocally = false
        self.forceReconnect = false

        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let handshake = HandshakeRequest(configuration: self.configuration)
        let maxFrameSize = self.configuration.maxFrameSize
        var bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configurePipeline(
                        channel: channel,
                        handshake: handshake,
                        maxFrameSize: maxFrameSize,
                        connectionID: id,
                        core: bound
                    )
                }
            }
        let target: SocketAddress?
        do {
            if let local = self.configuration.localAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0))
            }
            target = try? SocketAddress(ipAddress: self.configuration.host, port: self.configuration.port)
        } catch {
            self.attemptFailed(error, connectionID: id)
            return
        }
        self.logger.debug("connecting", metadata: ["host": "\(self.configuration.host)", "port": "\(self.configuration.port)"])
        let connected: EventLoopFuture<any NIOCore.Channel>
        if let target {
            connected = bootstrap.connect(to: target)
        } else {
            connected = bootstrap.connect(host: self.configuration.host, port: self.configuration.port)
        }
        connected.hop(to: self.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard self.connectionID == id, self.phase == .connecting else {
                    channel.close(promise: nil)
                    return
                }
                self.attemptChannel = channel
                channel.closeFuture.hop(to: self.eventLoop).assumeIsolated().whenComplete { _ in
                    self.channelClosed(connectionID: id)
                }
                // A server that accepts the connection but never answers the
                // upgrade must not hold the attempt forever.
                let timeout = self.configuration.connectTimeout
                self.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                    guard self.connectionID == id, self.phase == .connecting else { return }
                    self.recordAttemptError(
                        ClientError.handshakeFailed("no upgrade response within \(timeout.nanoseconds / 1_000_000) ms"),
                        connectionID: id
                    )
                    channel.close(promise: nil)
                }
            case .failure(let error):
                self.attemptFailed(error, connectionID: id)
            }
        }
    }

    private static func configurePipeline(
        channel: any NIOCore.Channel,
        handshake: HandshakeRequest,
        maxFrameSize: Int,
        connectionID: Int,
        core: NIOLoopBound<ClientCore>
    ) throws {
        let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeOutcome>(
            maxFrameSize: maxFrameSize,
            enableAutomaticErrorHandling: true
        ) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    NIOWebSocketFrameAggregator(
                        minNonFinalFragmentSize: 0,
                        maxAccumulatedFrameCount: 1 << 16,
                        maxAccumulatedFrameSize: maxFrameSize
                    )
                )
                try channel.pipeline.syncOperations.addHandler(
                    WebSocketClientHandler(core: core.value, connectionID: connectionID)
                )
                return UpgradeOutcome.upgraded
            }
        }
        var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
            upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                upgradeRequestHead: handshake.head,
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            RefusedUpgradeHandler(core: core.value, connectionID: connectionID)
                        )
                        return UpgradeOutcome.notUpgraded
                    }
                }
            )
        )
        configuration.leftOverBytesStrategy = .forwardBytes
        let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
            configuration: configuration
        )
        upgraded.assumeIsolated().whenComplete { result in
            switch result {
            case .success(.upgraded):
                if !core.value.upgradeSucceeded(connectionID: connectionID) {
                    channel.close(promise: nil)
                }
            case .success(.notUpgraded):
                break
            case .failure(let error):
                core.value.recordAttemptError(
                    ClientError.handshakeFailed(String(describing: error)),
                    connectionID: connectionID
                )
                channel.close(promise: nil)
            }
        }
    }

    /// The WebSocket handler of an attempt joined the pipeline (the upgrade is
    /// not finished yet).
    func handlerAttached(_ handler: WebSocketClientHandler) {
        guard handler.connectionID == self.connectionID, self.phase == .connecting else { return }
        self.attemptHandler = handler
    }

    /// The upgrade finished; returns `false` when the attempt is no longer
    /// wanted (the caller then closes it).
    func upgradeSucceeded(connectionID: Int) -> Bool {
        guard connectionID == self.connectionID, self.phase == .connecting, let handler = self.attemptHandler else {
            return false
        }
        self.attemptHandler = nil
        self.connectionOpened(handler: handler)
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
        self.attemptChannel = nil
        self.attemptHandler = nil
        self.statistics.failedAttempts += 1
        self.logger.debug("connection attempt failed", metadata: ["error": "\(error)"])
        self.emitError(error)
        self.completeConnectWaiters(.failure(error))
        if self.everConnected && self.configuration.reconnect && !self.userDisconnected && !self.isShutdown {
            self.scheduleReconnect()
        }
    }

    private func connectionOpened(handler: WebSocketClientHandler) {
        self.phase = .open
        self.connection = handler
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
        self.completeConnectWaiters(.success(()))
        self.emit(.open)
        for callback in self.openCallbacks {
            callback()
        }
        for channel in self.allChannels {
            channel.connectionOpened()
        }
    }

    func closeFrameReceived(code: UInt16?, reason: String, connectionID: Int) {
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

    private func channelClosed(connectionID: Int) {
        guard connectionID == self.connectionID else { return }
        self.closeTimer?.cancel()
        self.closeTimer = nil
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        self.pendingHeartbeatRef = nil
        self.attemptChannel = nil
        self.attemptHandler = nil
        self.connection = nil
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
        let info = PhoenixClient.CloseInfo(
            code: self.serverCloseCode,
            reason: self.serverCloseReason,
            initiatedLocally: self.closeInitiatedLocally,
            willReconnect: willReconnect && self.connectWaiters.isEmpty
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
        if !self.connectWaiters.isEmpty && !self.isShutdown {
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
        guard self.phase == .open, let connection = self.connection else { return }
        self.phase = .closing
        self.closeInitiatedLocally = true
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        connection.sendClose(code: code, reason: reason, maskKey: self.nextMaskKey())
        let id = self.connectionID
        self.closeTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.closeTimeout) {
            guard self.connectionID == id else { return }
            self.closeTimer = nil
            self.connection?.closeConnection()
            self.attemptChannel?.close(promise: nil)
        }
    }

    private func completeConnectWaiters(_ result: Result<Void, any Error>) {
        let waiters = self.connectWaiters
        self.connectWaiters.removeAll()
        for waiter in waiters {
            waiter.completeWith(result)
        }
    }

    // MARK: - Heartbeat

    private func resetHeartbeat() {
        self.heartbeatTimer?.cancel()
        self.heartbeatTimer = nil
        self.pendingHeartbeatRef = nil
        guard let interval = self.configuration.heartbeatInterval else { return }
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
        var buffer = self.connection?.allocator.buffer(capacity: 128) ?? ByteBufferAllocator().buffer(capacity: 128)
        let kind: FrameKind
        do {
            kind = try self.serializer.encodeClientMessage(message, into: &buffer)
        } catch {
            return .failure(.encodingFailed(error))
        }
        if self.phase == .open, let connection = self.connection {
            self.write(buffer, kind: kind, on: connection)
        } else {
            self.sendBuffer.append(BufferedFrame(topic: message.topic, joinRef: message.joinRef, data: buffer, kind: kind))
        }
        return .success(())
    }

    /// Writes a frame as is; fails when the socket is not open.
    func sendRaw(_ data: ByteBuffer, kind: FrameKind) -> Result<Void, ClientError> {
        guard self.phase == .open, let connection = self.connection else { return .failure(.notConnected) }
        self.write(data, kind: kind, on: connection)
        return .success(())
    }

    /// Encodes and writes `message` now; fails when the socket is not open.
    func sendNow(_ message: Message) -> Result<Void, ClientError> {
        guard self.phase == .open, let connection = self.connection else { return .failure(.notConnected) }
        var buffer = connection.allocator.buffer(capacity: 128)
        do {
            let kind = try self.serializer.encodeClientMessage(message, into: &buffer)
            self.write(buffer, kind: kind, on: connection)
            return .success(())
        } catch {
            return .failure(.encodingFailed(error))
        }
    }

    private func write(_ data: ByteBuffer, kind: FrameKind, on connection: WebSocketClientHandler) {
        self.statistics.framesSent += 1
        connection.write(opcode: kind == .text ? .text : .binary, data: data, maskKey: self.nextMaskKey())
    }

    /// Sends what was buffered while closed, dropping channel messages whose
    /// join no longer stands (the channel rejoins with a fresh join_ref anyway).
    private func flushSendBuffer() {
        guard !self.sendBuffer.isEmpty, let connection = self.connection else { return }
        let buffered = self.sendBuffer
        self.sendBuffer.removeAll()
        for frame in buffered {
            if let joinRef = frame.joinRef {
                let current = self.channels[frame.topic]?.contains { channel in
                    channel.joinRef == joinRef && (channel.state == .joining || channel.state == .joined)
                }
                guard current == true else { continue }
            }
            self.write(frame.data, kind: frame.kind, on: connection)
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
