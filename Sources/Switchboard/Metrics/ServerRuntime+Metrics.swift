extension ServerRuntime {
    /// The body of `GET /metrics` (``MetricsOptions/prometheusText``), or
    /// `nil` when the endpoint is off. Every loop's batched counts are
    /// published and the gauges read first, so the page is current.
    func prometheusPage() async -> [UInt8]? {
        guard let render = configuration.metrics.prometheusText else { return nil }
        for dispatcher in dispatchers {
            try? await dispatcher.eventLoop.submit { dispatcher.publishCounts() }.get()
        }
        await recordGauges()
        return render()
    }

    /// The content type of ``prometheusPage()``.
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
}
