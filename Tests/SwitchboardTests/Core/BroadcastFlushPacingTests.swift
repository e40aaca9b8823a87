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

    /// `count` broadcasts every `interval` from `origin`, each flushed at once
    /// in `flush`; returns when the last flush ended.
    @discardableResult
    static func feed(_ pacing: inout BroadcastFlushPacing, every interval: TimeAmount, flush: TimeAmount, count: Int, from start: NIODeadline = origin) -> NIODeadline {
        var end = start
        for index in 0..<count {
            let arrival = start + interval * Int64(index)
            pacing.arrived(now: arrival)
            end = arrival + flush
            pacing.flushed(from: arrival, to: end)
        }
        return end
    }

    @Test func theFirstFlushGoesAtOnce() {
        #expect(BroadcastFlushPacing().deferredUntil(now: Self.origin) == nil)
    }

    @Test func aBigFanOutAtAMediumRateIsNeverPutOff() {
        // 1,000 subscribers at 50 broadcasts a second: 5 ms of flushing every 20 ms.
        var pacing = BroadcastFlushPacing()
        let end = Self.feed(&pacing, every: .milliseconds(20), flush: .milliseconds(5), count: 100)
        #expect(!pacing.isPacing)
        // Even a broadcast right after the last flush goes at once.
        pacing.arrived(now: end + .milliseconds(1))
        #expect(pacing.deferredUntil(now: end + .milliseconds(1)) == nil)
    }

    @Test func aSaturatedLoopWaitsThreeTimesTheLastFlush() {
        // Broadcasts every 6 ms, each taking 5 ms to flush: the loop is saturated.
        var pacing = BroadcastFlushPacing()
        let end = Self.feed(&pacing, every: .milliseconds(6), flush: .milliseconds(5), count: 20)
        #expect(pacing.isPacing)
        #expect(pacing.deferredUntil(now: end + .milliseconds(1)) == end + .milliseconds(15))
        #expect(pacing.deferredUntil(now: end + .milliseconds(15)) == nil)
    }

    @Test func theWaitIsCappedByTheWindow() {
        var pacing = BroadcastFlushPacing()
        let end = Self.feed(&pacing, every: .milliseconds(40), flush: .milliseconds(40), count: 20)
        #expect(pacing.deferredUntil(now: end) == end + BroadcastFlushPacing.window)
        #expect(pacing.deferredUntil(now: end + BroadcastFlushPacing.window) == nil)
    }

    @Test func pacingStopsWhenTheRateFalls() {
        var pacing = BroadcastFlushPacing()
        let end = Self.feed(&pacing, every: .milliseconds(6), flush: .milliseconds(5), count: 20)
        #expect(pacing.isPacing)
        // Batched, each broadcast costs less: pacing holds while the loop stays busy.
        Self.feed(&pacing, every: .milliseconds(8), flush: .milliseconds(3), count: 20, from: end + .milliseconds(8))
        #expect(pacing.isPacing)
        Self.feed(&pacing, every: .milliseconds(100), flush: .milliseconds(5), count: 40, from: end + .seconds(1))
        #expect(!pacing.isPacing)
    }

    @Test func smallTopicsAtHighRatesWaitMicrosecondsAtMost() {
        // 10,000 broadcasts a second to a few subscribers: 4 µs flushes, 100 µs apart.
        var pacing = BroadcastFlushPacing()
        let end = Self.feed(&pacing, every: .microseconds(100), flush: .microseconds(4), count: 200)
        #expect(!pacing.isPacing)
        #expect(pacing.deferredUntil(now: end) == nil)
    }

    @Test func aFlushPreemptedMidwayIsMeasuredByItsOwnCPUTime() {
        // Broadcasts every 20 ms whose flushes take 15 ms of wall time but
        // 4 ms of the loop's own work (preempted by other processes): not saturated.
        var pacing = BroadcastFlushPacing()
        for index in 0..<50 {
            let arrival = Self.after(.milliseconds(20 * Int64(index)))
            pacing.arrived(now: arrival)
            pacing.flushed(from: arrival, to: arrival + .milliseconds(15), cpu: .milliseconds(4))
        }
        #expect(!pacing.isPacing)
        // Measured by wall time, the same would pace.
        var byWallTime = BroadcastFlushPacing()
        Self.feed(&byWallTime, every: .milliseconds(20), flush: .milliseconds(15), count: 50)
        #expect(byWallTime.isPacing)
    }

    @Test func theLoopThreadsCPUClockAdvancesWithWork() {
        let start = ThreadCPUClock.now()
        var sum = 0
        for index in 0..<2_000_000 { sum &+= index &* index }
        #expect(sum != 0)
        #expect(ThreadCPUClock.now() > start)
    }
}
