import Switchboard
import Testing

@Suite struct PrometheusPageTests {
    private static func page(_ text: String) -> String {
        String(decoding: PrometheusPage.withHelp(Array(text.utf8)), as: UTF8.self)
    }

    @Test func aHelpLineGoesBeforeEachKnownFamilysTypeLine() {
        let text = """
            # TYPE switchboard_connections gauge
            switchboard_connections 3
            # TYPE switchboard_channel_joins_total counter
            switchboard_channel_joins_total{status="ok"} 1

            """
        #expect(Self.page(text) == """
            # HELP switchboard_connections \(PrometheusPage.help["switchboard_connections"]!)
            # TYPE switchboard_connections gauge
            switchboard_connections 3
            # HELP switchboard_channel_joins_total \(PrometheusPage.help["switchboard_channel_joins_total"]!)
            # TYPE switchboard_channel_joins_total counter
            switchboard_channel_joins_total{status="ok"} 1

            """)
    }

    @Test func existingHelpLinesAndUnknownFamiliesAreLeftAsTheyAre() {
        let text = """
            # HELP switchboard_topics Topics, as the backend describes them.
            # TYPE switchboard_topics gauge
            switchboard_topics 2
            # TYPE application_requests_total counter
            application_requests_total 7
            """
        #expect(Self.page(text) == text)
        #expect(Self.page("") == "")
    }

    @Test func theProcessMetricsCarryTheirHelpAndType() {
        let text = ProcessMetrics(cpuSeconds: 1.5, residentMemoryBytes: 2048, maxFileDescriptors: 1024).prometheusText
        #expect(text == """
            # HELP process_cpu_seconds_total \(PrometheusPage.help["process_cpu_seconds_total"]!)
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 1.5
            # HELP process_resident_memory_bytes \(PrometheusPage.help["process_resident_memory_bytes"]!)
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 2048
            # HELP process_max_fds \(PrometheusPage.help["process_max_fds"]!)
            # TYPE process_max_fds gauge
            process_max_fds 1024

            """)
    }
}
