import NIOCore

/// Runs tasks on one NIO event loop: a bench task that prefers it (see
/// `addTask(executorPreference:)`) runs its control path — connect, join,
/// close — on the loop that also runs its client, so an `await` on the
/// client does not switch threads twice.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

/// One ``EventLoopTaskExecutor`` per loop of a group, handed out in turn.
struct LoopExecutors: Sendable {
    let executors: [EventLoopTaskExecutor]

    init(loops: [any EventLoop]) {
        self.executors = loops.map(EventLoopTaskExecutor.init(eventLoop:))
    }

    /// The executor for operation `index` (round robin over the loops).
    func executor(for index: Int) -> EventLoopTaskExecutor {
        self.executors[index % self.executors.count]
    }
}
