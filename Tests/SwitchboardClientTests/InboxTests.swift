import NIOCore
import NIOPosix
import Testing

@testable import SwitchboardClient

@Suite("Inbox")
struct InboxTests {
    private let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test("a recorded item is taken by the first matching waiter; others stay")
    func recordedThenTaken() async throws {
        let loop = self.loop
        let (first, second, rest) = try await loop.submit { () -> (EventLoopFuture<Int>, EventLoopFuture<Int>, [Int]) in
            let inbox = Inbox<Int>(eventLoop: loop, capacity: 10)
            for value in [1, 2, 3, 4] {
                inbox.deliver(value, record: true)
            }
            let first = inbox.next(where: { $0 % 2 == 0 }, timeout: .seconds(1))
            let second = inbox.next(where: { $0 % 2 == 0 }, timeout: .seconds(1))
            return (first, second, inbox.recorded)
        }.get()
        #expect(try await first.get() == 2)
        #expect(try await second.get() == 4)
        #expect(rest == [1, 3])
    }

    @Test("a waiter gets a later delivery, which is then not recorded")
    func waiterBeforeDelivery() async throws {
        let loop = self.loop
        let (future, recorded) = try await loop.submit { () -> (EventLoopFuture<String>, [String]) in
            let inbox = Inbox<String>(eventLoop: loop, capacity: 10)
            let future = inbox.next(where: { $0.hasPrefix("b") }, timeout: .seconds(1))
            inbox.deliver("a", record: true)
            inbox.deliver("b1", record: true)
            inbox.deliver("b2", record: true)
            return (future, inbox.recorded)
        }.get()
        #expect(try await future.get() == "b1")
        #expect(recorded == ["a", "b2"])
    }

    @Test("capacity drops the oldest records; record: false keeps nothing")
    func capacity() async throws {
        let loop = self.loop
        let recorded = try await loop.submit { () -> [Int] in
            let inbox = Inbox<Int>(eventLoop: loop, capacity: 3)
            for value in 1...5 {
                inbox.deliver(value, record: true)
            }
            inbox.deliver(6, record: false)
            return inbox.recorded
        }.get()
        #expect(recorded == [3, 4, 5])
    }

    @Test("a waiter without a match times out with ClientError.timeout")
    func timeout() async throws {
        let loop = self.loop
        let future = try await loop.submit { () -> EventLoopFuture<Int> in
            let inbox = Inbox<Int>(eventLoop: loop, capacity: 3)
            inbox.deliver(1, record: true)
            let future = inbox.next(where: { $0 == 2 }, timeout: .milliseconds(20))
            // The inbox's timer holds it weakly: keep it alive until the waiter ends.
            future.assumeIsolated().whenComplete { _ in withExtendedLifetime(inbox) {} }
            return future
        }.get()
        await #expect(throws: ClientError.self) {
            try await future.get()
        }
    }

    @Test("discardsSkipped: taking a record drops the older ones, as reading a stream")
    func streamSemantics() async throws {
        let loop = self.loop
        let (first, second, recorded) = try await loop.submit { () -> (EventLoopFuture<Int>, EventLoopFuture<Int>, [Int]) in
            let inbox = Inbox<Int>(eventLoop: loop, capacity: 10, discardsSkipped: true)
            for value in [1, 2, 3, 4, 5] {
                inbox.deliver(value, record: true)
            }
            let first = inbox.next(where: { $0 == 3 }, timeout: .seconds(1))
            let second = inbox.next(where: { $0 % 2 == 1 }, timeout: .seconds(1))
            return (first, second, inbox.recorded)
        }.get()
        #expect(try await first.get() == 3)
        #expect(try await second.get() == 5)
        #expect(recorded == [])
    }

    @Test("discardsSkipped: a waiter reads past non-matching deliveries")
    func streamSkipsWhileWaiting() async throws {
        let loop = self.loop
        let (future, recorded) = try await loop.submit { () -> (EventLoopFuture<Int>, [Int]) in
            let inbox = Inbox<Int>(eventLoop: loop, capacity: 10, discardsSkipped: true)
            inbox.deliver(1, record: true)
            let future = inbox.next(where: { $0 == 9 }, timeout: .seconds(1))
            inbox.deliver(7, record: true)
            inbox.deliver(9, record: true)
            inbox.deliver(10, record: true)
            return (future, inbox.recorded)
        }.get()
        #expect(try await future.get() == 9)
        #expect(recorded == [10])
    }
}
