/// Delays between reconnect attempts: exponential from ``initial`` up to
/// ``maximum``, each drawn at random from its upper half (jitter), so nodes
/// that lost Redis together do not come back in lockstep.
public struct RedisBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before attempt `attempt` (1 for the first retry).
    public func delay(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(initial * (1 << exponent), maximum)
        return ceiling * Double.random(in: 0.5...1.0)
    }
}
