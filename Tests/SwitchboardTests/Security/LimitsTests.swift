import NIOCore
import Testing

@testable import Switchboard

/// The building blocks of the hostile-input limits, in isolation.
struct LimitsTests {
    @Test func theRateLimiterAllowsABurstThenTheSustainedRate() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var limiter = InboundRateLimiter(rate: MessageRate(perSecond: 10, burst: 5), now: start)
        func admitted(_ count: Int, at time: NIODeadline) -> Int {
            (0..<count).filter { _ in limiter.admit(now: time) }.count
        }
        #expect(admitted(6, at: start) == 5)
        // 100 ms later one token came back, and only one.
        #expect(admitted(3, at: start + .milliseconds(100)) == 1)
        // A long quiet spell refills to the burst, never beyond.
        #expect(admitted(10, at: start + .seconds(60)) == 5)
    }

    @Test func theConnectionLimiterCountsPerAddress() {
        let limiter = ConnectionLimiter()
        #expect(limiter.reserve("1.2.3.4", limit: 2))
        #expect(limiter.reserve("1.2.3.4", limit: 2))
        #expect(!limiter.reserve("1.2.3.4", limit: 2))
        #expect(limiter.reserve("5.6.7.8", limit: 2))
        limiter.release("1.2.3.4")
        #expect(limiter.count("1.2.3.4") == 1)
        #expect(limiter.reserve("1.2.3.4", limit: 2))
        limiter.release("1.2.3.4")
        limiter.release("1.2.3.4")
        limiter.release("1.2.3.4")
        #expect(limiter.count("1.2.3.4") == 0)
    }

    @Test func theHTTPDecoderGetsTheHeaderBounds() {
        var limits = ServerConfiguration.Limits()
        limits.maxHeaderFieldSize = 100
        limits.maxHeadersSize = 1000
        limits.maxHeaderCount = 10
        let decoder = limits.httpDecoderLimits
        #expect(decoder.maxHeaderFieldSize == 100)
        #expect(decoder.maxHeaderListSize == 1000)
        #expect(decoder.maxHeaderFieldCount == 10)
    }
}
