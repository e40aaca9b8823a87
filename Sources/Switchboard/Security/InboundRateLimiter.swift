import NIOCore

/// One connection's token bucket for ``MessageRate``. Lives on the
/// connection's event loop; reads the clock only when a message arrives, so
/// an idle connection costs nothing.
struct InboundRateLimiter {
    private let rate: MessageRate
    private var tokens: Double
    private var refilledAt: NIODeadline

    init(rate: MessageRate, now: NIODeadline = .now()) {
        self.rate = rate
        self.tokens = Double(rate.burst)
        self.refilledAt = now
    }

    /// Takes a token for one message; `false` when the bucket is empty.
    mutating func admit(now: NIODeadline = .now()) -> Bool {
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        if elapsed > 0 {
            tokens = min(Double(rate.burst), tokens + elapsed * Double(rate.perSecond))
            refilledAt = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
