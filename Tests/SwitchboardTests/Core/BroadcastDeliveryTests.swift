import Logging
import NIOCore
import NIOEmbedded
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
}
