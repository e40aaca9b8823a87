import Logging
import NIOCore
import NIOEmbedded
import Switchboard

/// Drives the broadcast fastlane without sockets, for micro-benchmarks:
/// `subscribers` joined connections on one embedded event loop, each behind
/// the real ``WebSocketTransport``. Not for production use.
@_spi(Benchmarks)
public final class FanoutHarness {
    /// A channel that accepts every join and does nothing else.
    private struct SilentChannel: Switchboard.Channel {
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult { .ok(.object([:])) }
    }

    private let loop = EmbeddedEventLoop()
    private let channels: [EmbeddedChannel]
    private let pubsub: PubSub
    public let topic: String

    public init(subscribers: Int, topic: String = "room:bench") throws {
        self.topic = topic
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let dispatcher = LoopDispatcher(eventLoop: loop)
        let pubsub = PubSub(adapter: LocalAdapter(nodeName: "bench"), dispatchers: [dispatcher], logger: logger, localFraming: .webSocket)
        var router = ChannelRouter()
        router.channel("*") { SilentChannel() }
        let endpoint = SocketEndpoint(socket: AnonymousSocket(), router: router)
        let loop = self.loop
        self.channels = try (0..<subscribers).map { _ in
            try Self.joinedConnection(topic: topic, loop: loop, dispatcher: dispatcher, pubsub: pubsub, endpoint: endpoint, logger: logger).channel
        }
        self.pubsub = pubsub
    }

    /// A V2 connection on an embedded channel, behind the real ``WebSocketTransport``,
    /// joined to `topic` by a channel that intercepts nothing (the fastlane).
    package static func joinedConnection(
        topic: String, loop: EmbeddedEventLoop, dispatcher: LoopDispatcher, pubsub: PubSub, endpoint: SocketEndpoint, logger: Logger
    ) throws -> (channel: EmbeddedChannel, connection: SocketConnection) {
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let transport = WebSocketTransport()
        let connection = SocketConnection(
            transport: transport, eventLoop: loop,
            accepted: AcceptedSocket(endpoint: endpoint, version: .v2, assigns: [:], socketID: nil),
            pubsub: pubsub, presence: PresenceTracker(pubsub: pubsub, eventLoop: loop, options: PresenceOptions(), logger: logger),
            dispatcher: dispatcher, limits: ServerConfiguration.Limits(), logger: logger
        )
        transport.connection = connection
        try channel.pipeline.syncOperations.addHandler(transport)
        let instance = ChannelInstance(topic: topic, joinRef: "1", channel: SilentChannel(), connection: connection)
        dispatcher.subscribe(topic: topic, .channel(instance))
        return (channel, connection)
    }

    /// Encodes one broadcast and delivers it to every subscriber, then runs
    /// the loop's batched flush, as a real event loop step would. The loop's
    /// clock moves on by the broadcast coalescing window each time, so every
    /// broadcast is flushed at once, as at light load.
    public func broadcast(_ payload: Payload) throws {
        try pubsub.localBroadcast(topic: topic, event: "new_msg", payload: payload)
        loop.advanceTime(by: BroadcastFlushPacing.window)
    }

    /// Discards what the subscribers' channels were sent; returns the byte count.
    @discardableResult
    public func drain() throws -> Int {
        var bytes = 0
        for channel in channels {
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                bytes += buffer.readableBytes
            }
        }
        return bytes
    }

    /// One broadcast serialized as other nodes receive it: the V2 message,
    /// no transport framing (the fan-out benchmarks count the framing).
    public static func encodeBroadcastFrame(topic: String, event: String, payload: Payload) throws -> ByteBuffer {
        let message = PubSubMessage(topic: topic, event: event, payload: payload, originNode: "bench")
        return try MessageFraming.plain.encode(BroadcastFrames.outbound(message), V2Serializer(), ByteBufferAllocator())
    }
}

/// Accepts every connection with no assigns (the harness's and the tests' sockets).
public struct AnonymousSocket: Socket {
    public init() {}
    public func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult { .ok([:]) }
}
