import Histogram

/// Latencies in microseconds, in an HDR histogram (3 significant digits, up
/// to 60 s; longer values count as 60 s). One per event loop, merged at the end.
struct LatencyHistogram: Sendable {
    static let highestMicroseconds: UInt64 = 60_000_000

    private(set) var histogram = Histogram<UInt64>(
        highestTrackableValue: LatencyHistogram.highestMicroseconds,
        numberOfSignificantValueDigits: .three
    )

    var count: UInt64 { self.histogram.totalCount }

    /// Records the time from `start` to `end` (``MonotonicClock`` nanoseconds).
    @inline(__always)
    mutating func record(from start: UInt64, to end: UInt64) {
        let micros = end > start ? (end - start) / 1000 : 0
        _ = self.histogram.record(min(micros, Self.highestMicroseconds))
    }

    mutating func merge(_ other: LatencyHistogram) {
        self.histogram.add(other.histogram)
    }

    /// The value at `percentile` (0–100) in milliseconds; `nil` when empty.
    func milliseconds(atPercentile percentile: Double) -> Double? {
        guard self.count > 0 else { return nil }
        return Double(self.histogram.valueAtPercentile(percentile)) / 1000
    }

    var maxMilliseconds: Double? {
        guard self.count > 0 else { return nil }
        return Double(self.histogram.max) / 1000
    }

    /// The usual percentiles as a report section: p50, p90, p99, p99.9, max (ms).
    func reportSection() -> ReportSection {
        var section = ReportSection()
        section["count"] = .int(Int(self.count))
        section["p50_ms"] = .milliseconds(self.milliseconds(atPercentile: 50))
        section["p90_ms"] = .milliseconds(self.milliseconds(atPercentile: 90))
        section["p99_ms"] = .milliseconds(self.milliseconds(atPercentile: 99))
        section["p99_9_ms"] = .milliseconds(self.milliseconds(atPercentile: 99.9))
        section["max_ms"] = .milliseconds(self.maxMilliseconds)
        return section
    }
}
