import Metrics
import Prometheus
import Switchboard

/// `switchboard serve` records its metrics in a Prometheus registry: it
/// bootstraps swift-metrics' `MetricsSystem` with it (so the server, the
/// Redis adapter and anything else in the process record there) and serves
/// the registry at `GET /metrics`, with help lines and the process's
/// metrics (``PrometheusPage``).
enum PrometheusBootstrap {
    /// Bootstraps the metrics system; returns the renderer of `/metrics`.
    /// Once per process (swift-metrics allows one bootstrap).
    static func run() -> @Sendable () -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricsOptions.fanoutTimerLabel] = MetricsOptions.fanoutBuckets
        MetricsSystem.bootstrap(factory)
        return {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(4096)
            registry.emit(into: &buffer)
            return PrometheusPage.finish(buffer)
        }
    }
}
