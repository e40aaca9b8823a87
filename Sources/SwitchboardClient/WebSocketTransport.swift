import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SwitchboardProtocol

/// The WebSocket way to the server: TCP connect, HTTP upgrade (a refused one
/// is read by ``RefusedUpgradeHandler``), then a ``WebSocketClientHandler``
/// that hands frames to the core and writes the core's frames.
final class WebSocketTransport: ClientTransport {
    private let core: ClientCore
    private let connectionID: Int
    private var channel: (any NIOCore.Channel)?
    /// The frame handler, once the upgrade added it to the pipeline.
    private var handler: WebSocketClientHandler?
    private var opened = false
    private var aborted = false

    init(core: ClientCore, connectionID: Int) {
        self.core = core
        self.connectionID = connectionID
    }

    var kind: PhoenixClient.Transport { .webSocket }
    var sendsHeartbeats: Bool { true }

    var allocator: ByteBufferAllocator {
        self.handler?.allocator ?? ByteBufferAllocator()
    }

    func start() {
        let id = self.connectionID
        let core = self.core
        let configuration = core.configuration
        let eventLoop = core.eventLoop
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let handshake = HandshakeRequest(configuration: configuration)
        let maxFrameSize = configuration.maxFrameSize
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configurePipeline(
                        channel: channel,
                        handshake: handshake,
                        maxFrameSize: maxFrameSize,
                        transport: bound
                    )
                }
            }
        let target: SocketAddress?
        do {
            if let local = configuration.localAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0))
            }
            target = try? SocketAddress(ipAddress: configuration.host, port: configuration.port)
        } catch {
            self.fail(error)
            return
        }
        let connected: EventLoopFuture<any NIOCore.Channel>
        if let target {
            connected = bootstrap.connect(to: target)
        } else {
            connected = bootstrap.connect(host: configuration.host, port: configuration.port)
        }
        connected.hop(to: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard !self.aborted else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                channel.closeFuture.hop(to: eventLoop).assumeIsolated().whenComplete { _ in
                    self.handler = nil
                    core.transportClosed(connectionID: id)
                }
                // A server that accepts the connection but never answers the
                // upgrade must not hold the attempt forever.
                let timeout = configuration.connectTimeout
                eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                    guard !self.opened, !self.aborted, channel.isActive else { return }
                    core.recordAttemptError(
                        ClientError.handshakeFailed("no upgrade response within \(timeout.nanoseconds / 1_000_000) ms"),
                        connectionID: id
                    )
                    channel.close(promise: nil)
                }
            case .failure(let error):
                self.fail(error)
            }
        }
    }

    /// The attempt failed before there was a channel to close.
    private func fail(_ error: any Error) {
        self.core.recordAttemptError(error, connectionID: self.connectionID)
        self.core.transportClosed(connectionID: self.connectionID)
    }

    private static func configurePipeline(
        channel: any NIOCore.Channel,
        handshake: HandshakeRequest,
        maxFrameSize: Int,
        transport: NIOLoopBound<WebSocketTransport>
    ) throws {
        let connectionID = transport.value.connectionID
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
                // Writes fail until the upgrade handler has finished: the
                // transport opens when the upgrade future succeeds.
                let handler = WebSocketClientHandler(core: transport.value.core, connectionID: connectionID)
                try channel.pipeline.syncOperations.addHandler(handler)
                transport.value.handler = handler
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
                            RefusedUpgradeHandler(core: transport.value.core, connectionID: connectionID)
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
                transport.value.upgradeSucceeded(channel: channel)
            case .success(.notUpgraded):
                break
            case .failure(let error):
                transport.value.core.recordAttemptError(
                    ClientError.handshakeFailed(String(describing: error)),
                    connectionID: connectionID
                )
                channel.close(promise: nil)
            }
        }
    }

    private func upgradeSucceeded(channel: any NIOCore.Channel) {
        guard !self.aborted, self.handler != nil, self.core.transportOpened(connectionID: self.connectionID) else {
            channel.close(promise: nil)
            return
        }
        self.opened = true
    }

    func send(_ data: ByteBuffer, kind: FrameKind) {
        self.handler?.write(opcode: kind == .text ? .text : .binary, data: data, maskKey: self.core.nextMaskKey())
    }

    /// Starts the close handshake; the channel closes when the server answers
    /// (the core drops it with ``abort()`` if the server takes too long).
    func close(code: UInt16, reason: String) {
        self.handler?.sendClose(code: code, reason: reason, maskKey: self.core.nextMaskKey())
    }

    func abort() {
        self.aborted = true
        self.handler?.closeConnection()
        self.channel?.close(promise: nil)
    }
}

@available(*, unavailable)
extension WebSocketTransport: Sendable {}
