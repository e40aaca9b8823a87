import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Switchboard
import Synchronization
import Testing

/// A minimal Phoenix V2 server on loopback, for driving the client in tests:
/// it records handshakes and messages and answers as Phoenix would
/// (join, heartbeat, leave), plus a few test events:
/// `echo` replies ok with the payload (binary stays binary), `noreply` gets
/// nothing, anything else replies ok with `{}`.
final class FakePhoenixServer: Sendable {
    struct Handshake: Sendable {
        var uri: String
        var headers: HTTPHeaders
        var remoteAddress: SocketAddress?
    }

    struct Settings: Sendable {
        /// Refuse every upgrade with this status.
        var refuseStatus: HTTPResponseStatus?
        var answerHeartbeats = true
        /// Joins to these topics get `{"reason": "unauthorized"}`.
        var refusedTopics: Set<String> = []
        /// Joins get no reply at all.
        var ignoreJoins = false
    }

    private struct State {
        var settings = Settings()
        var handshakes: [Handshake] = []
        var received: [Message] = []
        var undecodableFrames: [[UInt8]] = []
        var connections: [ServerConnection] = []
        var closeCodesReceived: [UInt16?] = []
    }

    private let state = Mutex(State())
    private let serverChannel: NIOLockedChannel
    let port: Int

    private init(serverChannel: any NIOCore.Channel) {
        self.serverChannel = NIOLockedChannel(serverChannel)
        self.port = serverChannel.localAddress?.port ?? 0
    }

    static func start() async throws -> FakePhoenixServer {
        let box = Mutex<FakePhoenixServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let server = box.withLock({ $0 }) else {
                    return channel.close()
                }
                return server.initializeChild(channel)
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = FakePhoenixServer(serverChannel: channel)
        box.withLock { $0 = server }
        return server
    }

    func stop() async {
        for connection in self.connections {
            connection.channel.close(promise: nil)
        }
        try? await self.serverChannel.channel.close()
    }

    private func initializeChild(_ channel: any NIOCore.Channel) -> EventLoopFuture<Void> {
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 20,
            shouldUpgrade: { channel, head in
                let refuse = self.state.withLock { state -> Bool in
                    state.handshakes.append(Handshake(uri: head.uri, headers: head.headers, remoteAddress: channel.remoteAddress))
                    return state.settings.refuseStatus != nil
                }
                if refuse {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                var headers = HTTPHeaders()
                if head.headers["Sec-WebSocket-Protocol"].contains(where: { $0.hasPrefix("phoenix") }) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: "phoenix")
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, head in
                channel.pipeline.removeHandler(name: RefuseHandler.name).flatMapThrowing {
                    let connection = ServerConnection(channel: channel, serializer: Self.serializer(uri: head.uri))
                    self.state.withLock { $0.connections.append(connection) }
                    try channel.pipeline.syncOperations.addHandler(ServerFrameHandler(server: self, connection: connection))
                }
            }
        )
        return channel.pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
        ).flatMapThrowing {
            try channel.pipeline.syncOperations.addHandler(RefuseHandler(server: self), name: RefuseHandler.name)
        }
    }

    /// The serializer the `vsn` query parameter asks for (V1 without one).
    private static func serializer(uri: String) -> any Serializer {
        let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        let vsn = query.split(separator: "&").first { $0.hasPrefix("vsn=") }.map { String($0.dropFirst(4)) }
        return (SerializerVersion(vsn: vsn) ?? .v2).serializer
    }

    // MARK: - Test access

    var settings: Settings {
        get { self.state.withLock { $0.settings } }
        set { self.state.withLock { $0.settings = newValue } }
    }

    func update(_ body: (inout Settings) -> Void) {
        self.state.withLock { body(&$0.settings) }
    }

    var handshakes: [Handshake] { self.state.withLock { $0.handshakes } }
    var received: [Message] { self.state.withLock { $0.received } }
    var undecodableFrames: [[UInt8]] { self.state.withLock { $0.undecodableFrames } }
    var connections: [ServerConnection] { self.state.withLock { $0.connections } }
    var closeCodesReceived: [UInt16?] { self.state.withLock { $0.closeCodesReceived } }

    /// Received messages on `topic` with `event`.
    func received(topic: String? = nil, event: String) -> [Message] {
        self.received.filter { $0.event == event && (topic == nil || $0.topic == topic) }
    }

    /// The connection that opened last.
    var latest: ServerConnection {
        get throws {
            try #require(self.connections.last)
        }
    }

    // MARK: - Frames

    fileprivate func refuseStatus() -> HTTPResponseStatus {
        self.state.withLock { $0.settings.refuseStatus } ?? .notFound
    }

    fileprivate func recordClose(code: UInt16?) {
        self.state.withLock { $0.closeCodesReceived.append(code) }
    }

    fileprivate func handle(_ data: ByteBuffer, kind: FrameKind, on connection: ServerConnection) {
        let message: Message
        do {
            message = try connection.serializer.decodeClientFrame(data, kind: kind, limits: .default)
        } catch {
            self.state.withLock { $0.undecodableFrames.append(Array(data.readableBytesView)) }
            return
        }
        let settings = self.state.withLock { state -> Settings in
            state.received.append(message)
            return state.settings
        }
        switch message.event {
        case ChannelEvent.heartbeat:
            if settings.answerHeartbeats {
                connection.reply(to: message, status: .ok)
            }
        case ChannelEvent.join:
            if settings.ignoreJoins {
                return
            }
            if settings.refusedTopics.contains(message.topic) {
                connection.reply(to: message, status: .error, response: .json(["reason": "unauthorized"]))
            } else {
                connection.reply(to: message, status: .ok, response: .json(["topic": .string(message.topic)]))
            }
        case ChannelEvent.leave:
            connection.reply(to: message, status: .ok)
            connection.send(.message(Message(joinRef: message.joinRef, ref: message.joinRef, topic: message.topic, event: ChannelEvent.close)))
        case "echo":
            connection.reply(to: message, status: .ok, response: message.payload)
        case "noreply":
            break
        default:
            connection.reply(to: message, status: .ok)
        }
    }
}

/// Holds the listening channel (a `Sendable` existential already; named for clarity).
private struct NIOLockedChannel: Sendable {
    let channel: any NIOCore.Channel
    init(_ channel: any NIOCore.Channel) { self.channel = channel }
}

/// One upgraded server-side connection.
final class ServerConnection: Sendable {
    let channel: any NIOCore.Channel
    let serializer: any Serializer
    private let closeSentBox = Mutex(false)

    init(channel: any NIOCore.Channel, serializer: any Serializer) {
        self.channel = channel
        self.serializer = serializer
    }

    var remoteAddress: SocketAddress? { self.channel.remoteAddress }

    var closeSent: Bool {
        get { self.closeSentBox.withLock { $0 } }
        set { self.closeSentBox.withLock { $0 = newValue } }
    }

    func send(_ frame: OutboundFrame) {
        var buffer = self.channel.allocator.buffer(capacity: 128)
        // The fake server only sends frames the serializer can encode.
        let kind = (try? self.serializer.encodeServerFrame(frame, into: &buffer)) ?? .text
        self.write(opcode: kind == .text ? .text : .binary, data: buffer)
    }

    func reply(to message: Message, status: ReplyStatus, response: Payload = .empty) {
        self.send(.reply(Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: status, response: response)))
    }

    func push(topic: String, event: String, payload: JSONValue = [:], joinRef: String? = nil) {
        self.send(.message(Message(joinRef: joinRef, ref: nil, topic: topic, event: event, payload: .json(payload))))
    }

    func sendText(_ text: String) {
        var buffer = self.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        self.write(opcode: .text, data: buffer)
    }

    /// Starts a close handshake with `code`; the TCP connection closes when the
    /// client answers.
    func close(code: UInt16, reason: String = "") {
        self.closeSent = true
        var buffer = self.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.writeInteger(code)
        buffer.writeString(reason)
        self.write(opcode: .connectionClose, data: buffer)
    }

    /// Drops the TCP connection without a close frame.
    func drop() {
        self.channel.close(promise: nil)
    }

    private func write(opcode: WebSocketOpcode, data: ByteBuffer) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, data: data)
        self.channel.writeAndFlush(frame, promise: nil)
    }
}

private final class ServerFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let server: FakePhoenixServer
    let connection: ServerConnection

    init(server: FakePhoenixServer, connection: ServerConnection) {
        self.server = server
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            self.server.handle(frame.unmaskedData, kind: .text, on: self.connection)
        case .binary:
            self.server.handle(frame.unmaskedData, kind: .binary, on: self.connection)
        case .connectionClose:
            var data = frame.unmaskedData
            self.server.recordClose(code: data.readInteger(as: UInt16.self))
            if self.connection.closeSent {
                context.close(promise: nil)
            } else {
                self.connection.closeSent = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                echo.writeInteger(UInt16(1000))
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: echo)
                context.writeAndFlush(Self.wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        default:
            break
        }
    }
}

/// Answers a request that was not upgraded with the configured status.
private final class RefuseHandler: ChannelInboundHandler, RemovableChannelHandler {
    static let name = "refuse"
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: FakePhoenixServer

    init(server: FakePhoenixServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = Self.unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: self.server.refuseStatus(), headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
func eventually(
    timeout: Duration = .seconds(5),
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() {
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record(comment ?? "condition not met within \(timeout)", sourceLocation: sourceLocation)
    throw ClientTestError.timedOut
}

enum ClientTestError: Error {
    case timedOut
}
