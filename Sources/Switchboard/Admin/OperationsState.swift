/// Whether a node is draining, and since when; kept by the server runtime.
struct OperationsState: Sendable {
    /// Bumped by every drain and undrain: a scheduled drain close whose epoch
    /// is no longer current was cancelled by an undrain.
    var drainEpoch = 0
    /// When the current drain began; `nil` while serving.
    var drainingSince: ContinuousClock.Instant?
    /// The window of the current drain.
    var drainWindow: Duration = .zero
    /// Whether shutdown has begun: an undrain can no longer reopen the node.
    var shuttingDown = false
}

/// How many connections a shed should close.
public enum ShedAmount: Sendable, Hashable {
    /// This many (or all of them, if fewer are open).
    case count(Int)
    /// This percentage of the open connections, rounded to the nearest one.
    case percent(Double)
    /// Every open connection.
    case all

    func resolve(against open: Int) -> Int {
        switch self {
        case .count(let count): min(max(0, count), open)
        case .percent(let percent): min(open, max(0, Int((Double(open) * percent / 100).rounded())))
        case .all: open
        }
    }
}
