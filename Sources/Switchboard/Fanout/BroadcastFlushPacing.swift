import NIOCore

/// When a loop's next broadcast flush may go out: at once, unless the loop
/// is saturated with broadcasts and the last flush ended less than
/// ``factor`` times its own duration ago (capped at ``window``). Then it
/// waits until that moment, and the broadcasts delivered meanwhile leave
/// with it, in one write per connection.
///
/// Saturated means that delivering the broadcasts costs the loop a good
/// part of the time between them: pacing turns on when the CPU time per
/// broadcast (averaged) reaches half the time between broadcasts
/// (averaged), and off when it falls below a quarter. At a light or medium
/// rate nothing is put off, however big the fan-out (1,000 subscribers at
/// 50 broadcasts a second keep their latency); at saturation a loop spends
/// at most 1 / (factor + 1) of its time flushing, and each write carries
/// several frames, which cuts the system calls per delivery on both ends of
/// each connection.
///
/// Durations are the loop thread's CPU time, not wall time: on a busy
/// machine a loop preempted in the middle of a flush (by clients on the
/// same cores, say) would otherwise take its flush for several times longer
/// than it is.
package struct BroadcastFlushPacing {
    /// The longest a flush is put off.
    package static let window = TimeAmount.milliseconds(30)
    /// A flush may be put off by this many times the last one's duration.
    static let factor: Int64 = 3

    private var lastEnd = NIODeadline.uptimeNanoseconds(0)
    private var lastDuration = TimeAmount.zero
    private var lastArrival: NIODeadline?
    /// Broadcasts arrived since the last flush.
    private var arrivals = 0
    /// Averages (1/8 weight to each new value), in nanoseconds.
    private var interval: Int64 = 0
    private var costPerBroadcast: Int64 = 0
    /// Whether the loop counts as saturated, so flushes are paced.
    private(set) var isPacing = false

    /// A broadcast reached the loop at `now`.
    mutating func arrived(now: NIODeadline) {
        if let lastArrival {
            interval = Self.average(interval, (now - lastArrival).nanoseconds)
        }
        lastArrival = now
        arrivals += 1
    }

    /// The moment a flush asked for `now` should run; `nil`: at once.
    func deferredUntil(now: NIODeadline) -> NIODeadline? {
        guard isPacing else { return nil }
        let due = lastEnd + min(lastDuration * Self.factor, Self.window)
        return now < due ? due : nil
    }

    /// A flush that carried broadcasts ran from `start` to `end`, using
    /// `cpu` of the loop's thread if measured. Measured to the end: a flush
    /// to thousands of connections can itself take longer than the window.
    mutating func flushed(from start: NIODeadline, to end: NIODeadline, cpu: TimeAmount? = nil) {
        lastEnd = end
        lastDuration = min(end - start, cpu ?? .nanoseconds(.max))
        costPerBroadcast = Self.average(costPerBroadcast, lastDuration.nanoseconds / Int64(max(1, arrivals)))
        arrivals = 0
        if isPacing {
            isPacing = costPerBroadcast * 4 >= interval
        } else {
            isPacing = costPerBroadcast * 2 >= interval && interval > 0
        }
    }

    private static func average(_ average: Int64, _ value: Int64) -> Int64 {
        average == 0 ? value : average + (value - average) / 8
    }
}
