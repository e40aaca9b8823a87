import NIOCore
import Testing

@testable import SwitchboardClient

@Suite("Backoff")
struct BackoffTests {
    @Test("reconnect schedule is phoenix.js's: 10 … 2000 ms, then 5 s")
    func reconnectSchedule() {
        let backoff = PhoenixClient.Backoff.reconnect
        let expected: [Int64] = [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000]
        let actual = (1...12).map { backoff.nominalDelay(attempt: $0).nanoseconds / 1_000_000 }
        #expect(actual == expected)
        #expect(backoff.nominalDelay(attempt: 1000) == .seconds(5))
    }

    @Test("rejoin schedule is phoenix.js's: 1, 2, 5 s, then 10 s")
    func rejoinSchedule() {
        let backoff = PhoenixClient.Backoff.rejoin
        let actual = (1...6).map { backoff.nominalDelay(attempt: $0) }
        #expect(actual == [.seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(10), .seconds(10)])
    }

    @Test("an attempt number below 1 gets the final delay")
    func outOfRangeAttempt() {
        let backoff = PhoenixClient.Backoff(steps: [.milliseconds(1)], then: .milliseconds(7))
        #expect(backoff.nominalDelay(attempt: 0) == .milliseconds(7))
        #expect(backoff.nominalDelay(attempt: -3) == .milliseconds(7))
    }

    @Test("without jitter the delay is the nominal one")
    func noJitter() {
        let backoff = PhoenixClient.Backoff(steps: [.milliseconds(10), .milliseconds(20)], then: .seconds(1), jitter: 0)
        var generator = FastRandom(seed: 1)
        #expect(backoff.delay(attempt: 1, using: &generator) == .milliseconds(10))
        #expect(backoff.delay(attempt: 2, using: &generator) == .milliseconds(20))
        #expect(backoff.delay(attempt: 3, using: &generator) == .seconds(1))
    }

    @Test("jittered delays stay within ±jitter of the nominal delay and actually vary", arguments: [1, 3, 9, 10, 50])
    func jitterBounds(attempt: Int) {
        let backoff = PhoenixClient.Backoff.reconnect
        let nominal = backoff.nominalDelay(attempt: attempt).nanoseconds
        let low = Int64((Double(nominal) * 0.8).rounded(.down))
        let high = Int64((Double(nominal) * 1.2).rounded(.up))
        var generator = FastRandom(seed: UInt64(attempt))
        var seen = Set<Int64>()
        var belowNominal = false
        var aboveNominal = false
        for _ in 0..<2000 {
            let delay = backoff.delay(attempt: attempt, using: &generator).nanoseconds
            #expect(delay >= low && delay <= high, "delay \(delay) ns outside [\(low), \(high)]")
            seen.insert(delay)
            belowNominal = belowNominal || delay < nominal
            aboveNominal = aboveNominal || delay > nominal
        }
        #expect(seen.count > 100)
        #expect(belowNominal && aboveNominal)
    }

    @Test("full jitter never goes negative")
    func fullJitter() {
        let backoff = PhoenixClient.Backoff(steps: [], then: .milliseconds(100), jitter: 1)
        var generator = FastRandom(seed: 42)
        for _ in 0..<1000 {
            let delay = backoff.delay(attempt: 1, using: &generator)
            #expect(delay >= .zero && delay <= .milliseconds(200))
        }
    }

    @Test("the same seed gives the same delays")
    func deterministicWithSeed() {
        let backoff = PhoenixClient.Backoff.rejoin
        var first = FastRandom(seed: 7)
        var second = FastRandom(seed: 7)
        let a = (1...5).map { backoff.delay(attempt: $0, using: &first) }
        let b = (1...5).map { backoff.delay(attempt: $0, using: &second) }
        #expect(a == b)
    }
}
