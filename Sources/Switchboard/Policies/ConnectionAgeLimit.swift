import NIOCore

/// `max_connection_age`: connections older than ``age`` (± up to
/// ``jitter``, different for each connection) are shed with close code 1012,
/// so clients reconnect through the load balancer and a cluster rebalances by
/// itself over time. The jitter spreads the reconnects of connections that
/// arrived together (after a deploy, say).
public struct ConnectionAgeLimit: Sendable, Hashable {
    public var age: Duration
    public var jitter: Duration

    /// - Parameter jitter: a tenth of `age` when `nil`.
    public init(age: Duration, jitter: Duration? = nil) {
        self.age = age
        self.jitter = min(jitter ?? age / 10, age)
    }

    /// When a connection opened at `openedAt` is due; `seed` picks its place
    /// in the jitter window, the same every time for one connection.
    func deadline(openedAt: NIODeadline, seed: UInt64) -> NIODeadline {
        let unit = Double(SplitMix64.mix(seed) >> 11) / Double(1 << 53)  // uniform in [0, 1)
        let offset = Int64(Double(jitter.nanoseconds) * (2 * unit - 1))
        return openedAt + .nanoseconds(age.nanoseconds + offset)
    }
}

/// The SplitMix64 finalizer: a well-mixed 64-bit value from any seed.
enum SplitMix64 {
    static func mix(_ seed: UInt64) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
