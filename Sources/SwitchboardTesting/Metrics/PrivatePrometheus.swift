import Prometheus
import Switchboard

extension MetricsOptions {
    /// Metrics in a Prometheus registry of the server's own (so servers in
    /// one test process keep separate counts), shown at `GET /metrics`, as
    /// `switchboard serve` does with the process-wide one (on the admin
    /// listener unless `onPublicListener`).
    package static func privatePrometheus(onPublicListener: Bool = false) -> MetricsOptions {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricsOptions.fanoutTimerLabel] = MetricsOptions.fanoutBuckets
        return MetricsOptions(factory: factory, onPublicListener: onPublicListener) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return PrometheusPage.finish(buffer)
        }
    }
}

/// Reading a value out of Prometheus text (`GET /metrics`).
package enum PrometheusText {
    /// The value of the sample written exactly `sample` (a name, with its
    /// labels if it has any), or `nil` when there is none.
    package static func value(of sample: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The value of `sample` at `GET /metrics` on `port`: a public port
    /// (``MetricsOptions/onPublicListener``), as no token is sent.
    package static func scrape(_ sample: String, port: Int) async throws -> Double? {
        value(of: sample, in: try await PlainHTTP.request(port: port, path: "/metrics").body)
    }
}
