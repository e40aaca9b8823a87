/// A sustained rate with a burst allowance: a token bucket that holds at most
/// ``burst`` tokens and gains ``perSecond`` tokens a second; each inbound
/// message (data frame or ping) takes one.
public struct MessageRate: Sendable, Hashable, CustomStringConvertible {
    /// Messages a second, sustained.
    public var perSecond: Int
    /// Messages accepted at once after a quiet spell.
    public var burst: Int

    public init(perSecond: Int, burst: Int) {
        self.perSecond = max(1, perSecond)
        self.burst = max(1, burst)
    }

    public var description: String { "\(perSecond)/s (burst \(burst))" }
}
