#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOEmbedded
@testable import SwitchboardRedis
import Synchronization
import Testing

/// What the sharded publisher's ``RedisCommandHandler`` notes about replies
/// of 0 receivers: only those that follow a stall (a master that held them
/// while it handed a failover over).
@Suite("Redis command handler: publishes unheard after a stall")
struct CommandHandlerStallTests {
    /// What a handler reported.
    final class Reports: Sendable {
        private let list = Mutex<[RedisCommandHandler.PublishReplies]>([])

        func append(_ replies: RedisCommandHandler.PublishReplies) {
            list.withLock { $0.append(replies) }
        }

        var last: RedisCommandHandler.PublishReplies? { list.withLock { $0.last } }
    }

    /// Waits on this thread: an embedded channel is used from the thread
    /// that made it only (an `await` could resume the test elsewhere).
    static func sleep(_ amount: TimeAmount) {
        usleep(UInt32(amount.nanoseconds / 1_000))
    }

    /// A handler on an embedded channel, with the replies it reports.
    static func handler(collects: Bool) throws -> (EmbeddedChannel, Reports) {
        let reports = Reports()
        let handler = RedisCommandHandler(collectsRedirections: collects, onPublishReplies: { replies in
            reports.append(replies)
        })
        let channel = EmbeddedChannel(handler: handler)
        return (channel, reports)
    }

    @Test("replies of 0 receivers after replies stalled are noted by position; others are not")
    func notesUnheardAfterStall() throws {
        let (channel, reports) = try Self.handler(collects: true)
        try channel.writeOutbound(RedisRequest(bytes: ByteBuffer(string: "..."), replies: [.publishes(count: 4)]))
        Self.sleep(RedisCommandHandler.stall * 3)
        // One read burst.
        for value in [RedisValue.integer(0), .integer(2), .error("MOVED 1 127.0.0.1:7000"), .integer(0)] {
            channel.pipeline.fireChannelRead(value)
        }
        channel.pipeline.fireChannelReadComplete()
        let replies = try #require(reports.last)
        #expect(replies.unheardAfterStall == [0, 3])
        #expect(replies.redirected == [2])
        #expect(replies.acknowledged == 3)
        _ = try channel.finish()
    }

    @Test("a classic publisher notes nothing, stall or not")
    func classicNotesNothing() throws {
        let (channel, reports) = try Self.handler(collects: false)
        try channel.writeOutbound(RedisRequest(bytes: ByteBuffer(string: "..."), replies: [.publishes(count: 2)]))
        Self.sleep(RedisCommandHandler.stall * 3)
        channel.pipeline.fireChannelRead(RedisValue.integer(0))
        channel.pipeline.fireChannelRead(RedisValue.integer(0))
        channel.pipeline.fireChannelReadComplete()
        let replies = try #require(reports.last)
        #expect(replies.unheardAfterStall.isEmpty)
        #expect(replies.acknowledged == 2)
        _ = try channel.finish()
    }
}
