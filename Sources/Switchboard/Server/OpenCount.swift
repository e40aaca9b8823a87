import Synchronization

/// How many of something are open (connections, channel instances still
/// ending), and a wait for none to be: the server's shutdown waits on these
/// before it stops what they use.
package final class OpenCount: Sendable {
    private let open = Atomic<Int>(0)
    /// Tasks waiting for the count to reach zero; see ``waitForZero(timeout:)``.
    private let waiters = Mutex<Waiters>(Waiters())

    package init() {}

    var value: Int { open.load(ordering: .relaxed) }

    func opened() {
        open.add(1, ordering: .relaxed)
    }

    func closed() {
        if open.subtract(1, ordering: .relaxed).newValue == 0 {
            for waiter in waiters.withLock({ $0.removeAll() }) {
                waiter.resume()
            }
        }
    }

    /// Waits until the count is zero, or at most `timeout`. True when it is.
    /// Woken by the last close, not by polling.
    @discardableResult
    func waitForZero(timeout: Duration) async -> Bool {
        guard value > 0 else { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.reachedZero()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            _ = await group.next()
            group.cancelAll()
            return self.value == 0
        }
    }

    /// Returns once the count is zero, or when cancelled.
    private func reachedZero() async {
        let id = waiters.withLock { $0.makeID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock `closed` takes after its decrement,
                // so a close cannot slip between check and wait.
                let now = waiters.withLock { waiters -> Bool in
                    if value == 0 || Task.isCancelled { return true }
                    waiters.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    /// Continuations of ``waitForZero(timeout:)`` calls.
    private struct Waiters {
        private var nextID = 0
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]

        mutating func makeID() -> Int {
            nextID += 1
            return nextID
        }

        /// Every waiting continuation, leaving none.
        mutating func removeAll() -> [CheckedContinuation<Void, Never>] {
            defer { waiting = [:] }
            return Array(waiting.values)
        }
    }
}
