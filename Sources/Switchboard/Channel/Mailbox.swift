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
    ///
    /// With `startImmediately`, a new task runs on the calling thread until
    /// its first suspension (`Task.immediate`) instead of being scheduled:
    /// a handler that answers without awaiting anything completes before
    /// `enqueue` returns. Only pass it from the thread `executor` runs on,
    /// and outside any other task, so handlers still run where they would
    /// have run.
    func enqueue(
        _ item: Item,
        on executor: (any TaskExecutor)? = nil,
        startImmediately: Bool = false,
        process: @escaping @Sendable (Item) async -> Void
    ) {
        let start = state.withLockedValue { state in
            state.queue.append(item)
            if state.running { return false }
            state.running = true
            return true
        }
        guard start else { return }
        if startImmediately {
            Task.immediate(executorPreference: executor) { await self.drain(process) }
        } else {
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
