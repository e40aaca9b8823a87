import NIOCore
import Switchboard
import Testing

@testable import SwitchboardClient

@Suite("Reply matching and join_ref filtering")
struct ReplyRoutingTests {
    private func reply(ref: String?, topic: String = "room:1", joinRef: String? = "1", status: ReplyStatus = .ok) -> Reply {
        Reply(joinRef: joinRef, ref: ref, topic: topic, status: status)
    }

    @Test("a reply completes the push with its ref, once")
    func matchByRef() {
        var pending = PendingReplies<String>()
        pending.insert(ref: "2", topic: "room:1", waiter: "push 2")
        pending.insert(ref: "3", topic: "room:1", waiter: "push 3")
        #expect(pending.take(matching: self.reply(ref: "3")) == "push 3")
        #expect(pending.take(matching: self.reply(ref: "3")) == nil)
        #expect(pending.count == 1)
        #expect(pending.take(matching: self.reply(ref: "2", status: .error)) == "push 2")
        #expect(pending.isEmpty)
    }

    @Test("unknown ref, missing ref or another topic match nothing and keep the waiter")
    func noMatch() {
        var pending = PendingReplies<Int>()
        pending.insert(ref: "5", topic: "room:1", waiter: 5)
        #expect(pending.take(matching: self.reply(ref: "6")) == nil)
        #expect(pending.take(matching: self.reply(ref: nil)) == nil)
        #expect(pending.take(matching: self.reply(ref: "5", topic: "room:2")) == nil)
        #expect(pending.contains(ref: "5"))
        #expect(pending.take(matching: self.reply(ref: "5")) == 5)
    }

    @Test("take(ref:) removes a waiter (timeout) so a late reply finds nothing")
    func timeoutRemoves() {
        var pending = PendingReplies<Int>()
        pending.insert(ref: "9", topic: "t", waiter: 9)
        #expect(pending.take(ref: "9") == 9)
        #expect(pending.take(matching: self.reply(ref: "9", topic: "t")) == nil)
    }

    @Test("inserting a ref twice returns the replaced waiter")
    func replace() {
        var pending = PendingReplies<Int>()
        #expect(pending.insert(ref: "1", topic: "t", waiter: 1) == nil)
        #expect(pending.insert(ref: "1", topic: "t", waiter: 2) == 1)
        #expect(pending.take(ref: "1") == 2)
    }

    @Test("removeAll hands back every waiter")
    func removeAll() {
        var pending = PendingReplies<Int>()
        for index in 1...4 {
            pending.insert(ref: String(index), topic: "t", waiter: index)
        }
        #expect(pending.removeAll().sorted() == [1, 2, 3, 4])
        #expect(pending.isEmpty)
    }

    @Test("join_ref filtering: current or null accepted, any other dropped", arguments: [
        (String?.none, String?.some("4"), true),
        (String?.some("4"), String?.some("4"), true),
        (String?.some("3"), String?.some("4"), false),
        (String?.some("40"), String?.some("4"), false),
        (String?.some(""), String?.some("4"), false),
        (String?.some("4"), String?.none, false),
        (String?.none, String?.none, true),
    ])
    func staleJoinRef(messageJoinRef: String?, currentJoinRef: String?, accepted: Bool) {
        #expect(ChannelCore.isMember(messageJoinRef: messageJoinRef, currentJoinRef: currentJoinRef) == accepted)
    }
}
