import CoreMetrics

/// Where a server's metrics are recorded and how `GET /metrics` shows them.
///
/// By default they go to the process's `MetricsSystem`, so whatever backend
/// the application bootstraps (Prometheus, StatsD, OpenTelemetry) sees them,
/// and `/metrics` is off. `switchboard serve` bootstraps swift-prometheus and
/// sets ``prometheusText`` to render its registry.
public struct MetricsOptions: Sendable {
    /// Records the metrics; `nil` means `MetricsSystem.factory` as it is when
    /// the server is created (bootstrap the system first).
    public var factory: (any MetricsFactory)?
    /// The body of `GET /metrics` on the public listener, in Prometheus text
    /// format; `nil` leaves the endpoint off (404).
    public var prometheusText: (@Sendable () -> [UInt8])?

    public init(factory: (any MetricsFactory)? = nil, prometheusText: (@Sendable () -> [UInt8])? = nil) {
        self.factory = factory
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
