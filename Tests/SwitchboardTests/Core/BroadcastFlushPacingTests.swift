import NIOCore
import Testing
@testable import Switchboard

/// When a loop's broadcast flush is put off to batch more broadcasts into each write.
@Suite("Broadcast flush pacing")
struct BroadcastFlushPacingTests {
    static let origin = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func after(_ amount: TimeAmount) -> NIODeadline {
        origin + amount
    }

    /// A pacing whose last flush ran from `origin` for `duration`.
    static func pacing(lastFlushTook duration: TimeAmount) -> BroadcastFlushPacing {
        var pacing = BroadcastFlushPacing()
        pacing.flushed(from: origin, to: origin + duration)
        return pacing
    }

    @Test func theFirstFlushGoesAtOnce() {
        #expect(BroadcastFlushPacing().deferredUntil(now: Self.origin) == nil)
    }

    @Test func aBroadcastSoonAfterABigFlushWaitsThreeTimesItsDuration() {
        // A 5 ms flush (thousands of connections) ended at 5 ms; a broadcast at 6 ms waits until 5 + 15 ms.
        let pacing = Self.pacing(lastFlushTook: .milliseconds(5))
        #expect(pacing.deferredUntil(now: Self.after(.milliseconds(6))) == Self.after(.milliseconds(20)))
        #expect(pacing.deferredUntil(now: Self.after(.milliseconds(19))) == Self.after(.milliseconds(20)))
    }

    @Test func aBroadcastLaterThanTheWaitGoesAtOnce() {
        // Light load: 10 broadcasts a second after a 20 ms flush are 80 ms past its end.
        let pacing = Self.pacing(lastFlushTook: .milliseconds(20))
        #expect(pacing.deferredUntil(now: Self.after(.milliseconds(100))) == nil)
        #expect(pacing.deferredUntil(now: Self.after(.milliseconds(50))) == nil)
    }

    @Test func theWaitIsCappedByTheWindow() {
        let pacing = Self.pacing(lastFlushTook: .milliseconds(40))
        let end = Self.after(.milliseconds(40))
        #expect(pacing.deferredUntil(now: end) == end + BroadcastFlushPacing.window)
        #expect(pacing.deferredUntil(now: end + BroadcastFlushPacing.window) == nil)
    }

    @Test func smallTopicsAtHighRatesWaitMicrosecondsAtMost() {
        // A flush to a few subscribers: 4 µs. Even a broadcast right after it waits 12 µs at most.
        let pacing = Self.pacing(lastFlushTook: .microseconds(4))
        let end = Self.after(.microseconds(4))
        #expect(pacing.deferredUntil(now: end) == end + .microseconds(12))
        #expect(pacing.deferredUntil(now: end + .microseconds(12)) == nil)
    }
}
