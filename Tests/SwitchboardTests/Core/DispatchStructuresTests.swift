import NIOConcurrencyHelpers
import Testing
@testable import Switchboard

@Suite("Dispatch structures")
struct DispatchStructuresTests {
    private func handler(_ id: UInt64) -> LocalSubscriber {
        LocalSubscriber(id: SubscriberID(rawValue: id), target: .handler { _ in })
    }

    private func remove(_ subscribers: inout TopicSubscribers, _ id: UInt64) -> Bool {
        subscribers.remove(SubscriberID(rawValue: id))
    }

    @Test func topicSubscribersSwapRemove() {
        var subscribers = TopicSubscribers()
        for id in 1...5 { subscribers.insert(handler(UInt64(id))) }
        subscribers.insert(handler(3))  // re-inserting keeps one entry
        #expect(subscribers.count == 5)
        #expect(remove(&subscribers, 2) == true)
        #expect(remove(&subscribers, 2) == false)
        #expect(Set(subscribers.subscribers.map(\.id.rawValue)) == [1, 3, 4, 5])
        #expect(remove(&subscribers, 5) == true)
        #expect(remove(&subscribers, 1) == true)
        #expect(Set(subscribers.subscribers.map(\.id.rawValue)) == [3, 4])
        #expect(remove(&subscribers, 3) == true)
        #expect(remove(&subscribers, 4) == true)
        #expect(subscribers.isEmpty)
    }

    @Test func mailboxRunsItemsInOrderOneAtATime() async {
        let log = NIOLockedValueBox<[Int]>([])
        let running = NIOLockedValueBox(0)
        let overlap = NIOLockedValueBox(false)
        let done = AsyncStream<Void>.makeStream()
        let mailbox = Mailbox<Int>()
        let process: @Sendable (Int) async -> Void = { item in
            let concurrent = running.withLockedValue { $0 += 1; return $0 }
            if concurrent > 1 { overlap.withLockedValue { $0 = true } }
            if item % 7 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            log.withLockedValue { $0.append(item) }
            running.withLockedValue { $0 -= 1 }
            if item == 199 { done.continuation.finish() }
        }
        for item in 0..<200 { mailbox.enqueue(item, process: process) }
        for await _ in done.stream {}
        #expect(log.withLockedValue { $0 } == Array(0..<200))
        #expect(!overlap.withLockedValue { $0 })
    }
}
