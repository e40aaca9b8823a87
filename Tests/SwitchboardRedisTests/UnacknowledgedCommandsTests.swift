import NIOCore
@testable import SwitchboardRedis
import Testing

/// ``RedisPublisher/Unacknowledged``: which written commands are still
/// unanswered, known by their lengths only, and what a lost connection re-sends.
@Suite("Redis publisher: unanswered commands")
struct UnacknowledgedCommandsTests {
    /// Adds `commands` (publishes unless named in `requests`) to `tracked` and to `batch`.
    private static func add(_ commands: [String], requests: Set<String> = [], to tracked: inout RedisPublisher.Unacknowledged, batch: inout ByteBuffer) {
        for command in commands {
            batch.writeString(command)
            tracked.append(length: command.utf8.count, isPublish: !requests.contains(command))
        }
    }

    private static func strings(_ buffers: some Sequence<ByteBuffer>) -> [String] {
        buffers.map { String(buffer: $0) }
    }

    @Test("a lost connection takes the unanswered publishes in order, written ones first, then the unflushed; not the answered ones, not requests")
    func takesTheUnansweredPublishes() {
        var tracked = RedisPublisher.Unacknowledged(capacity: 10)
        var written = ByteBuffer()
        Self.add(["a1", "PING", "b22"], requests: ["PING"], to: &tracked, batch: &written)
        tracked.written(written)
        var second = ByteBuffer()
        Self.add(["c333"], to: &tracked, batch: &second)
        tracked.written(second)
        tracked.answered(1)
        var unflushed = ByteBuffer()
        Self.add(["d4444", "e5"], to: &tracked, batch: &unflushed)

        let taken = tracked.takeKept(unflushed: unflushed)
        #expect(Self.strings(taken.commands) == ["b22", "c333", "d4444", "e5"])
        #expect(taken.unflushed == 2)
        #expect(taken.missing == 0)
        #expect(tracked.isEmpty && tracked.kept == 0)
    }

    @Test("publishes beyond the capacity are tracked, not kept; answers retire them in order")
    func beyondTheCapacity() {
        var tracked = RedisPublisher.Unacknowledged(capacity: 2)
        var written = ByteBuffer()
        Self.add(["a1", "b22", "c333", "d4444"], to: &tracked, batch: &written)
        tracked.written(written)
        #expect(tracked.kept == 2)
        tracked.answered(1)
        #expect(tracked.kept == 1)
        let taken = tracked.takeKept(unflushed: ByteBuffer())
        #expect(Self.strings(taken.commands) == ["b22"], "c333 and d4444 were beyond the capacity")
        #expect(taken.missing == 0)
    }

    @Test("an answer can hand back the bytes of kept publishes at given positions (a cluster's redirections)")
    func answeredReturnsRedirected() {
        var tracked = RedisPublisher.Unacknowledged(capacity: 10)
        var written = ByteBuffer()
        Self.add(["a1", "b22", "c333"], to: &tracked, batch: &written)
        tracked.written(written)
        let returned = tracked.answered(3, returning: [1, 2])
        #expect(returned.map(\.position) == [1, 2])
        #expect(Self.strings(returned.map(\.bytes)) == ["b22", "c333"])
        #expect(tracked.isEmpty)
    }

    @Test("commands out of step with their bytes: those that cannot be found are counted as missing, not guessed")
    func outOfStepIsCounted() {
        var tracked = RedisPublisher.Unacknowledged(capacity: 10)
        var written = ByteBuffer()
        Self.add(["a1", "b22"], to: &tracked, batch: &written)
        // A third publish tracked whose bytes never reached a batch.
        tracked.append(length: 4, isPublish: true)
        tracked.written(written)
        let taken = tracked.takeKept(unflushed: ByteBuffer())
        #expect(Self.strings(taken.commands) == ["a1", "b22"])
        #expect(taken.missing == 1)
        #expect(tracked.isEmpty && tracked.kept == 0)
    }
}
