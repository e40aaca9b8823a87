import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import SwitchboardTesting
@testable import Switchboard
@_spi(Benchmarks) @testable import SwitchboardTesting

/// How a loop's dispatcher writes a broadcast: at once when nothing waits,
/// held behind earlier frames otherwise.
@Suite("Broadcast delivery")
struct BroadcastDeliveryTests {
    /// Connections joined to `room:test` on one embedded loop.
    private final class Fixture {
        let loop = EmbeddedEventLoop()
        let pubsub: PubSub
        let channels: [EmbeddedChannel]
        let connections: [SocketConnection]

        init(subscribers: Int) throws {
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let dispatcher = LoopDispatcher(eventLoop: loop)
            let pubsub = PubSub(adapter: LocalAdapter(nodeName: "test"), dispatchers: [dispatcher], logger: logger)
            let endpoint = SocketEndpoint(socket: AnonymousSocket(), router: ChannelRouter())
            let loop = self.loop
            let joined = try (0..<subscribers).map { _ in
                try FanoutHarness.joinedConnection(topic: "room:test", loop: loop, dispatcher: dispatcher, pubsub: pubsub, endpoint: endpoint, logger: logger)
            }
            self.pubsub = pubsub
            channels = joined.map(\.channel)
            connections = joined.map(\.connection)
        }

        func broadcast(_ text: String) throws {
            try pubsub.localBroadcast(topic: "room:test", event: "msg", payload: .json(["body": .string(text)]))
        }

        /// The text frames `channel` has flushed so far, payloads only.
        func flushedTexts(_ channel: EmbeddedChannel) throws -> [String] {
            var texts: [String] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                // Server frames are unmasked; these are all under 126 bytes.
                buffer.moveReaderIndex(forwardBy: 2)
                texts.append(buffer.readString(length: buffer.readableBytes) ?? "")
            }
            return texts
        }
    }

    @Test func aBigFanOutAtLightLoadIsFlushedAsItIsDelivered() throws {
        let fixture = try Fixture(subscribers: LoopDispatcher.directWriteFanout)
        try fixture.broadcast("first")
        // No loop task has run: the frames left during delivery itself.
        for channel in fixture.channels {
            let texts = try fixture.flushedTexts(channel)
            #expect(texts.count == 1)
            #expect(texts.first?.contains("\"first\"") == true)
        }
    }

    @Test func aSmallFanOutWaitsForTheLoopStepsFlush() throws {
        let fixture = try Fixture(subscribers: 2)
        try fixture.broadcast("small")
        for channel in fixture.channels {
            #expect(try fixture.flushedTexts(channel).isEmpty)
        }
        fixture.loop.run()
        for channel in fixture.channels {
            #expect(try fixture.flushedTexts(channel).count == 1)
        }
    }

    @Test func aBroadcastBehindAnUnflushedReplyWaitsForTheLoopsFlush() throws {
        let fixture = try Fixture(subscribers: LoopDispatcher.directWriteFanout)
        let reply = OutboundFrame.reply(Reply(joinRef: "1", ref: "7", topic: "room:test", status: .ok))
        fixture.connections[0].write(reply)
        try fixture.broadcast("second")
        // A flush is due at the end of this loop step: the broadcast joins it.
        #expect(try fixture.flushedTexts(fixture.channels[0]).isEmpty)
        #expect(try fixture.flushedTexts(fixture.channels[1]).isEmpty)
        fixture.loop.run()
        let first = try fixture.flushedTexts(fixture.channels[0])
        #expect(first.count == 2)
        #expect(first.first?.contains("\"7\"") == true)
        #expect(first.last?.contains("\"second\"") == true)
        for channel in fixture.channels.dropFirst() {
            #expect(try fixture.flushedTexts(channel).count == 1)
        }
    }

    /// The base address of a buffer's readable bytes, to tell shared storage from copies.
    private static func address(_ buffer: ByteBuffer) -> UInt {
        buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// With or without a local framing (the sender serializing straight into
    /// the transport's framing, which the first loop then writes as it is).
    @Test(arguments: [false, true])
    func eachLoopFramesTheSerializedMessageOnceAndItsSubscribersShareThatFrame(serializesIntoTheLocalFraming: Bool) throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let loops = [EmbeddedEventLoop(), EmbeddedEventLoop()]
        let dispatchers = loops.map { LoopDispatcher(eventLoop: $0) }
        let pubsub = PubSub(adapter: LocalAdapter(nodeName: "test"), dispatchers: dispatchers, logger: logger,
                            localFraming: serializesIntoTheLocalFraming ? .webSocket : nil)
        // What other nodes and handlers get: the serialized message, no framing.
        let handed = NIOLockedValueBox<[ByteBuffer]>([])
        dispatchers[1].subscribe(topic: "room:test", LocalSubscriber(id: .next(), target: .handler { message in
            handed.withLockedValue { $0.append(message.encoded ?? ByteBuffer()) }
        }))
        let endpoint = SocketEndpoint(socket: AnonymousSocket(), router: ChannelRouter())
        let channels = try zip(loops, dispatchers).map { loop, dispatcher in
            try (0..<2).map { _ in
                try FanoutHarness.joinedConnection(topic: "room:test", loop: loop, dispatcher: dispatcher, pubsub: pubsub, endpoint: endpoint, logger: logger).channel
            }
        }
        let payloads: [(Payload, UInt8)] = [
            (.json(["body": "hi"]), 0x81),
            (.json(["body": .string(String(repeating: "x", count: 200))]), 0x81),
            (.binary(ByteBuffer(bytes: [0, 1, 2, 254, 255])), 0x82),
        ]
        for (payload, opcode) in payloads {
            try pubsub.localBroadcast(topic: "room:test", event: "msg", payload: payload)
            loops.forEach { $0.run() }
            var serialized = ByteBuffer()
            _ = try V2Serializer().encodeServerFrame(.message(Message(topic: "room:test", event: "msg", payload: payload)), into: &serialized)
            let length = serialized.readableBytes
            let header: [UInt8] = length < 126 ? [opcode, UInt8(length)] : [opcode, 126, UInt8(length >> 8), UInt8(length & 0xFF)]
            var addresses: [[UInt]] = []
            for loopChannels in channels {
                var loopAddresses: [UInt] = []
                for channel in loopChannels {
                    let frame = try #require(try channel.readOutbound(as: ByteBuffer.self))
                    #expect(Array(frame.readableBytesView) == header + Array(serialized.readableBytesView))
                    #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
                    loopAddresses.append(Self.address(frame))
                }
                addresses.append(loopAddresses)
            }
            // One frame per loop, shared by its subscribers; no two loops share one.
            #expect(Set(addresses[0]).count == 1)
            #expect(Set(addresses[1]).count == 1)
            #expect(addresses[0][0] != addresses[1][0])
            #expect(handed.withLockedValue { $0.removeFirst() } == serialized)
        }
    }

    /// A broadcast made on one loop (a message from Redis, a channel's
    /// broadcast) reaches the other loops before that loop delivers its own
    /// share, so they deliver at the same time, not one after the other.
    @Test func theOtherLoopsAreHandedABroadcastBeforeTheCurrentLoopDeliversItsShare() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = [group.next(), group.next()]
        let dispatchers = loops.map { LoopDispatcher(eventLoop: $0) }
        let pubsub = PubSub(adapter: LocalAdapter(nodeName: "test"), dispatchers: dispatchers, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let otherLoopDelivered = ConditionLock(value: false)
        let sawTheOtherLoop = NIOLockedValueBox<Bool?>(nil)
        try await loops[1].submit {
            dispatchers[1].subscribe(topic: "room:test", LocalSubscriber(id: .next(), target: .handler { _ in
                otherLoopDelivered.lock()
                otherLoopDelivered.unlock(withValue: true)
            }))
        }.get()
        try await loops[0].submit {
            dispatchers[0].subscribe(topic: "room:test", LocalSubscriber(id: .next(), target: .handler { _ in
                // Waits (blocking this loop) for the other loop's delivery: it
                // only comes if it was handed over before this one began.
                let came = otherLoopDelivered.lock(whenValue: true, timeoutSeconds: 2)
                if came { otherLoopDelivered.unlock() }
                sawTheOtherLoop.withLockedValue { $0 = came }
            }))
        }.get()
        try await loops[0].submit {
            try pubsub.localBroadcast(topic: "room:test", event: "msg", payload: .json(["body": "hi"]))
        }.get()
        #expect(sawTheOtherLoop.withLockedValue { $0 } == true)
        try await group.shutdownGracefully()
    }
}
