import NIOCore

/// Recorded items plus the callers waiting for one, confined to one event
/// loop: what `nextMessage` and `nextEvent` read from.
///
/// A delivered item goes to the oldest waiter whose predicate accepts it;
/// otherwise it is recorded (when recording), the oldest record dropped
/// beyond `capacity`. A waiter first looks through the records, oldest
/// first, and takes the one it matched: only that one (a mailbox, for
/// channel messages), or that one and every older record (`discardsSkipped`:
/// a stream read with a filter, for connection events, so a "next close"
/// never returns a close from before the previous match).
final class Inbox<Element: Sendable> {
    private struct Waiter {
        var id: Int
        var predicate: (Element) -> Bool
        var promise: EventLoopPromise<Element>
        var timer: Scheduled<Void>?
    }

    private let eventLoop: any EventLoop
    private let capacity: Int
    private let discardsSkipped: Bool
    private var records: CircularBuffer<Element>
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0

    init(eventLoop: any EventLoop, capacity: Int, discardsSkipped: Bool = false) {
        self.eventLoop = eventLoop
        self.capacity = max(1, capacity)
        self.discardsSkipped = discardsSkipped
        self.records = CircularBuffer(initialCapacity: 16)
    }

    /// Items recorded and not yet taken, oldest first.
    var recorded: [Element] { Array(self.records) }

    var waiterCount: Int { self.waiters.count }

    /// Hands `element` to the first matching waiter, or records it if `record`.
    func deliver(_ element: Element, record: Bool) {
        if !self.waiters.isEmpty, let index = self.waiters.firstIndex(where: { $0.predicate(element) }) {
            let waiter = self.waiters.remove(at: index)
            waiter.timer?.cancel()
            waiter.promise.succeed(element)
            return
        }
        // A waiting reader of a stream has read past this element.
        guard record, !(self.discardsSkipped && !self.waiters.isEmpty) else { return }
        if self.records.count >= self.capacity {
            self.records.removeFirst()
        }
        self.records.append(element)
    }

    /// The first recorded or next delivered element accepted by `predicate`;
    /// fails with ``ClientError/timeout`` after `timeout`.
    func next(where predicate: @escaping (Element) -> Bool, timeout: TimeAmount) -> EventLoopFuture<Element> {
        if let index = self.records.firstIndex(where: predicate) {
            if self.discardsSkipped {
                self.records.removeFirst(self.records.distance(from: self.records.startIndex, to: index))
                return self.eventLoop.makeSucceededFuture(self.records.removeFirst())
            }
            return self.eventLoop.makeSucceededFuture(self.records.remove(at: index))
        }
        if self.discardsSkipped {
            self.records.removeAll(keepingCapacity: true)
        }
        let promise = self.eventLoop.makePromise(of: Element.self)
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        let timer = self.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self else { return }
            self.expire(id)
        }
        self.waiters.append(Waiter(id: id, predicate: predicate, promise: promise, timer: timer))
        return promise.futureResult
    }

    /// Fails every waiter with `error`.
    func failWaiters(_ error: any Error) {
        let waiters = self.waiters
        self.waiters.removeAll()
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.promise.fail(error)
        }
    }

    private func expire(_ id: Int) {
        guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = self.waiters.remove(at: index)
        waiter.promise.fail(ClientError.timeout)
    }
}
