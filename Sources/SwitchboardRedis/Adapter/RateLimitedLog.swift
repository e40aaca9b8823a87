import Logging

/// Logs at most once per interval, counting what it held back.
struct RateLimitedLog {
    let interval: Duration
    private var last: ContinuousClock.Instant?
    private var suppressed = 0

    init(interval: Duration) {
        self.interval = interval
    }

    mutating func log(_ logger: Logger, level: Logger.Level = .warning, _ message: (_ suppressed: Int) -> String) {
        let now = ContinuousClock.now
        if let last, now - last < interval {
            suppressed += 1
            return
        }
        logger.log(level: level, "\(message(suppressed))")
        last = now
        suppressed = 0
    }
}
