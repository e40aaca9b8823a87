import DequeModule
import NIOConcurrencyHelpers

/// Runs work items one at a time, in order, on a task that exists only while
/// there is work: an idle mailbox holds no task, and holds no reference to
/// its owner (the `process` closure lives only as long as the draining task).
final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var queue = Deque<Item>()
        var running = false
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    /// Queues `item`; if no task is draining the mailbox, starts one that
    /// passes each queued item to `process`, on `executor` when given.
    func enqueue(_ item: Item, on executor: (any TaskExecutor)? = nil, process: @escaping @Sendable (Item) async -> Void) {
        let start = state.withLockedValue { state in
            state.queue.append(item)
            if state.running { return false }
            state.running = true
            return true
        }
        if start {
            Task(executorPreference: executor) { await self.drain(process) }
        }
    }

    private func drain(_ process: @Sendable (Item) async -> Void) async {
        while let item = next() {
            await process(item)
        }
    }

    /// The next item, or `nil` after marking the mailbox idle — atomically, so
    /// an item enqueued concurrently is never stranded.
    private func next() -> Item? {
        state.withLockedValue { state in
            if let item = state.queue.popFirst() { return item }
            state.running = false
            return nil
        }
    }
}
