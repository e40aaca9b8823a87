import NIOCore

/// The batched flush of one event loop's connections: messages written
/// during a loop step leave in one system call per connection at its end,
/// and broadcast flushes at saturation wait a little for more
/// (``BroadcastFlushPacing``). Runs on its loop only.
package final class FlushScheduler: @unchecked Sendable {
    private let eventLoop: any EventLoop
    private var pending: [SocketConnection] = []
    private var scheduled = false
    /// A broadcast flush put off to let more broadcasts join it (see ``scheduleBroadcastFlush(_:)``).
    private var deferred: Scheduled<Void>?
    /// Broadcast messages wait in ``pending``.
    private var broadcastPending = false
    private var pacing = BroadcastFlushPacing()

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Whether nothing waits for a flush and none is put off at `now`: a big
    /// fan-out may then write and flush each message as it goes.
    func isIdle(now: NIODeadline) -> Bool {
        !scheduled && deferred == nil && pacing.deferredUntil(now: now) == nil
    }

    /// A broadcast reached the loop (see ``BroadcastFlushPacing/arrived(now:)``).
    func broadcastArrived(now: NIODeadline) {
        pacing.arrived(now: now)
    }

    /// A fan-out wrote and flushed as it went from `start` to `end`; later
    /// broadcast flushes are paced by that duration.
    func flushedDirectly(from start: NIODeadline, to end: NIODeadline, cpu: TimeAmount) {
        pacing.flushed(from: start, to: end, cpu: cpu)
    }

    /// Queues a flush of `connection` at the end of this loop step: messages
    /// written meanwhile leave in one system call.
    func scheduleFlush(_ connection: SocketConnection) {
        enqueue(connection)
        guard !scheduled else { return }
        scheduled = true
        eventLoop.execute { self.flushAll() }
    }

    /// Like ``scheduleFlush(_:)``, for broadcast messages: they leave at the
    /// end of this loop step too, unless ``BroadcastFlushPacing`` puts the
    /// flush off so that more broadcasts join it (big fan-outs at saturation).
    func scheduleBroadcastFlush(_ connection: SocketConnection) {
        enqueue(connection)
        broadcastPending = true
        guard !scheduled, deferred == nil else { return }
        if let due = pacing.deferredUntil(now: eventLoop.now) {
            deferred = eventLoop.scheduleTask(deadline: due) { self.flushAll() }
        } else {
            scheduled = true
            eventLoop.execute { self.flushAll() }
        }
    }

    private func enqueue(_ connection: SocketConnection) {
        if !connection.flushPending {
            connection.flushPending = true
            pending.append(connection)
        }
    }

    private func flushAll() {
        scheduled = false
        deferred?.cancel()
        deferred = nil
        let carriedBroadcasts = broadcastPending
        broadcastPending = false
        let connections = pending
        pending.removeAll(keepingCapacity: true)
        // Only broadcast flushes are timed: replies and pushes pay no clock
        // read; only big ones pay for the thread's CPU time (a system call).
        let started = carriedBroadcasts ? eventLoop.now : nil
        let count = connections.count
        let cpuAtStart = carriedBroadcasts && count >= LoopDispatcher.directWriteFanout ? ThreadCPUClock.now() : nil
        for index in 0..<count {
            SocketConnection.prefetch(aheadOf: index, count: count) { connections[$0] }
            let connection = connections[index]
            connection.flushPending = false
            connection.flush()
        }
        if let started {
            pacing.flushed(from: started, to: eventLoop.now, cpu: cpuAtStart.map { ThreadCPUClock.now() - $0 })
        }
    }
}
