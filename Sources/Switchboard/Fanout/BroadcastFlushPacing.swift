import NIOCore

/// When a loop's next broadcast flush may go out: at once, unless the last
/// one ended less than ``factor`` times its own duration ago (capped at
/// ``window``). Then it waits until that moment, and the broadcasts
/// delivered meanwhile leave with it, in one write per connection.
///
/// A flush to a few subscribers takes microseconds, so it is never put off
/// by more, however many broadcasts a second the loop carries; a big fan-out
/// at a light rate (broadcasts further apart than the wait) is not put off
/// either. Only big fan-outs arriving faster batch: a loop saturated with
/// broadcasts spends at most 1 / (factor + 1) of its time flushing them, and
/// each write carries several frames, which cuts the system calls per
/// delivery on both ends of each connection.
package struct BroadcastFlushPacing {
    /// The longest a flush is put off.
    package static let window = TimeAmount.milliseconds(30)
    /// A flush may be put off by this many times the last one's duration.
    static let factor: Int64 = 3

    private var lastEnd = NIODeadline.uptimeNanoseconds(0)
    private var lastDuration = TimeAmount.zero

    /// The moment a flush asked for `now` should run; `nil`: at once.
    func deferredUntil(now: NIODeadline) -> NIODeadline? {
        let due = lastEnd + min(lastDuration * Self.factor, Self.window)
        return now < due ? due : nil
    }

    /// A flush that carried broadcasts ran from `start` to `end`. Measured to
    /// the end: a flush to thousands of connections can itself take longer
    /// than the window.
    mutating func flushed(from start: NIODeadline, to end: NIODeadline) {
        lastEnd = end
        lastDuration = end - start
    }
}
