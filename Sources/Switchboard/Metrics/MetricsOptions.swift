import CoreMetrics

/// Where a server's metrics are recorded and how `GET /metrics` shows them.
///
/// By default they go to the process's `MetricsSystem`, so whatever backend
/// the application bootstraps (Prometheus, StatsD, OpenTelemetry) sees them,
/// and `/metrics` is off. `switchboard serve` bootstraps swift-prometheus and
/// sets ``prometheusText`` to render its registry.
///
/// `GET /metrics` is served on the admin listener (with the admin token),
/// not on the public one, unless ``onPublicListener`` says so.
public struct MetricsOptions: Sendable {
    /// Records the metrics; `nil` means `MetricsSystem.factory` as it is when
    /// the server is created (bootstrap the system first).
    public var factory: (any MetricsFactory)?
    /// The body of `GET /metrics`, in Prometheus text format; `nil` leaves
    /// the endpoint off (404). ``PrometheusPage/finish(_:)`` adds help lines
    /// and the process's metrics to a registry's text.
    public var prometheusText: (@Sendable () -> [UInt8])?
    /// Whether the public listener serves `GET /metrics` too, to anyone who
    /// can reach it (off: only the admin listener does, with the admin token).
    public var onPublicListener: Bool

    public init(
        factory: (any MetricsFactory)? = nil,
        onPublicListener: Bool = false,
        prometheusText: (@Sendable () -> [UInt8])? = nil
    ) {
        self.factory = factory
        self.onPublicListener = onPublicListener
        self.prometheusText = prometheusText
    }

    /// The name of the fan-out timer (the time one event loop takes to hand
    /// a broadcast to its subscribers).
    public static let fanoutTimerLabel = "switchboard_broadcast_fanout_seconds"
    /// Histogram buckets that fit the fan-out timer, from 10 µs to 1 s, for
    /// a backend whose defaults suit request latencies instead.
    public static let fanoutBuckets: [Duration] = [
        .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
}
