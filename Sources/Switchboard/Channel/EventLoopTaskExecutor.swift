import NIOCore

/// Runs a task's jobs on one NIO event loop. Channel instances drain their
/// mailbox with this executor preferred, so a handler that returns a reply
/// without awaiting anything else runs on the connection's own thread: no
/// thread hop between the frame arriving, the handler and the reply's write.
///
/// Handlers must therefore not block (the same rule as for any NIO code);
/// an `actor` channel still runs on its own executor.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
