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
