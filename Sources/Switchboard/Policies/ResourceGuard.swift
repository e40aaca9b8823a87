/// The resource guard: when the node's memory (RSS) or connection count stays
/// above a threshold for ``sustain``, the node refuses new connections
/// (`/readyz` 503, upgrades 503) and sheds at most ``shedRate`` connections a
/// second until it is back under; then it takes connections again.
public struct ResourceGuard: Sendable, Hashable {
    /// Connections above which the guard engages; `nil`: not watched.
    public var maxConnections: Int?
    /// Resident memory, in bytes, above which the guard engages; `nil`: not watched.
    public var maxMemoryBytes: Int?
    /// How long a threshold must be exceeded before the guard engages.
    public var sustain: Duration
    /// Connections shed per second at most while engaged.
    public var shedRate: Int

    /// Connection shedding goes down to this fraction of ``maxConnections``
    /// (and the guard lets go there), so it does not flap at the threshold.
    public static let connectionLowWater = 0.95

    public init(maxConnections: Int? = nil, maxMemoryBytes: Int? = nil, sustain: Duration = .seconds(10), shedRate: Int = 100) {
        self.maxConnections = maxConnections
        self.maxMemoryBytes = maxMemoryBytes
        self.sustain = sustain
        self.shedRate = shedRate
    }
}

/// The guard's decisions from one sample a second (pure logic, no clock or I/O).
struct ResourceGuardMonitor {
    let limits: ResourceGuard
    private(set) var overSince: ContinuousClock.Instant?
    private(set) var engaged = false

    enum Decision: Equatable {
        case none
        /// Start refusing connections and shed this many.
        case engage(shed: Int)
        /// Keep refusing and shed this many (maybe 0).
        case shed(Int)
        /// Back under: take connections again.
        case release
    }

    init(limits: ResourceGuard) {
        self.limits = limits
    }

    mutating func evaluate(connections: Int, residentBytes: Int, now: ContinuousClock.Instant) -> Decision {
        let memoryOver = limits.maxMemoryBytes.map { residentBytes > $0 } ?? false
        let connectionsOver = limits.maxConnections.map { connections > $0 } ?? false
        let lowWater = limits.maxConnections.map { Int(Double($0) * ResourceGuard.connectionLowWater) }
        let connectionExcess = lowWater.map { max(0, connections - $0) } ?? 0

        if engaged {
            guard memoryOver || connectionExcess > 0 else {
                engaged = false
                overSince = nil
                return .release
            }
            return .shed(shedCount(memoryOver: memoryOver, connectionExcess: connectionExcess))
        }
        guard memoryOver || connectionsOver else {
            overSince = nil
            return .none
        }
        let since = overSince ?? now
        overSince = since
        guard now - since >= limits.sustain else { return .none }
        engaged = true
        return .engage(shed: shedCount(memoryOver: memoryOver, connectionExcess: connectionExcess))
    }

    private func shedCount(memoryOver: Bool, connectionExcess: Int) -> Int {
        min(limits.shedRate, memoryOver ? limits.shedRate : connectionExcess)
    }
}
