import NIOCore
import NIOEmbedded
@testable import SwitchboardRedis
import Testing

/// The replies a ``RedisCommandHandler`` reports to a publisher leave the
/// connection's handshake out: a publisher with the outage buffer on retires
/// its oldest unanswered commands by that count.
@Suite("Redis command handler: the handshake's replies")
struct CommandHandlerHandshakeTests {
    @Test("the handshake's replies are not reported; the commands written after it are, in the same read burst too")
    func handshakeRepliesAreLeftOut() throws {
        let (channel, reports) = try CommandHandlerStallTests.handler(collects: false)
        let handshake = (0..<3).map { _ in channel.eventLoop.makePromise(of: RedisValue.self) }
        try channel.writeOutbound(RedisRequest(bytes: ByteBuffer(string: "..."), replies: handshake.map { .promise($0) }, isHandshake: true))
        // The connection's user writes as soon as the handshake's last reply
        // completes it, before the burst that carried it ends.
        handshake[2].futureResult.whenSuccess { _ in
            _ = try? channel.writeOutbound(RedisRequest(bytes: ByteBuffer(string: "..."), replies: [.publishes(count: 2)]))
        }
        for value in [RedisValue.simpleString("OK"), .simpleString("OK"), .simpleString("PONG")] {
            channel.pipeline.fireChannelRead(value)
        }
        channel.pipeline.fireChannelReadComplete()
        #expect(reports.last == nil, "no command of the user was answered yet")

        let probe = channel.eventLoop.makePromise(of: RedisValue.self)
        try channel.writeOutbound(RedisRequest(bytes: ByteBuffer(string: "..."), replies: [.promise(probe)]))
        for value in [RedisValue.integer(1), .integer(1), .integer(1)] {
            channel.pipeline.fireChannelRead(value)
        }
        channel.pipeline.fireChannelReadComplete()
        let replies = try #require(reports.last)
        #expect(replies.acknowledged == 2)
        #expect(replies.requests == 1)
        #expect(replies.commands == 3)
        _ = try channel.finish()
    }
}
