import Synchronization

/// The live counters behind ``RedisAdapterStatistics``: relaxed atomics,
/// bumped from any event loop.
final class RedisAdapterCounters: Sendable {
    let published = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)
    let publishErrors = Atomic<Int>(0)
    let unconfirmed = Atomic<Int>(0)
    let received = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let buffered = Atomic<Int>(0)
    let replayed = Atomic<Int>(0)
    let reconnects = Atomic<Int>(0)
    let malformedEnvelopes = Atomic<Int>(0)
    let duplicateNodeEnvelopes = Atomic<Int>(0)
    let probeFailures = Atomic<Int>(0)

    var snapshot: RedisAdapterStatistics {
        var statistics = RedisAdapterStatistics()
        statistics.published = published.load(ordering: .relaxed)
        statistics.acknowledged = acknowledged.load(ordering: .relaxed)
        statistics.publishErrors = publishErrors.load(ordering: .relaxed)
        statistics.unconfirmed = unconfirmed.load(ordering: .relaxed)
        statistics.received = received.load(ordering: .relaxed)
        statistics.dropped = dropped.load(ordering: .relaxed)
        statistics.buffered = buffered.load(ordering: .relaxed)
        statistics.replayed = replayed.load(ordering: .relaxed)
        statistics.reconnects = reconnects.load(ordering: .relaxed)
        statistics.malformedEnvelopes = malformedEnvelopes.load(ordering: .relaxed)
        statistics.duplicateNodeEnvelopes = duplicateNodeEnvelopes.load(ordering: .relaxed)
        statistics.probeFailures = probeFailures.load(ordering: .relaxed)
        return statistics
    }
}

extension Atomic<Int> {
    /// Adds `amount` (relaxed).
    func bump(_ amount: Int = 1) {
        add(amount, ordering: .relaxed)
    }
}
