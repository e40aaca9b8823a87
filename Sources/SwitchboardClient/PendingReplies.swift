import SwitchboardProtocol

/// The pushes of one channel that await a reply, keyed by the `ref` they
/// were sent with. A reply completes the push whose ref and topic it echoes;
/// anything else matches nothing.
struct PendingReplies<Waiter> {
    private var waiters: [String: (topic: String, waiter: Waiter)] = [:]

    var count: Int { self.waiters.count }
    var isEmpty: Bool { self.waiters.isEmpty }

    func contains(ref: String) -> Bool {
        self.waiters[ref] != nil
    }

    /// Registers `waiter` for the reply to the message sent with `ref` on `topic`.
    /// A second registration for the same ref replaces the first, which is returned.
    @discardableResult
    mutating func insert(ref: String, topic: String, waiter: Waiter) -> Waiter? {
        self.waiters.updateValue((topic, waiter), forKey: ref)?.waiter
    }

    /// Removes and returns the waiter `reply` answers: same ref, same topic.
    /// A reply without a ref, with an unknown ref or for another topic leaves
    /// the table unchanged and returns `nil`.
    mutating func take(matching reply: Reply) -> Waiter? {
        guard let ref = reply.ref, let entry = self.waiters[ref], entry.topic == reply.topic else {
            return nil
        }
        self.waiters[ref] = nil
        return entry.waiter
    }

    /// Removes and returns the waiter registered for `ref` (e.g. on its timeout).
    mutating func take(ref: String) -> Waiter? {
        self.waiters.removeValue(forKey: ref)?.waiter
    }

    /// Removes and returns every waiter.
    mutating func removeAll() -> [Waiter] {
        let all = self.waiters.values.map(\.waiter)
        self.waiters.removeAll()
        return all
    }
}
