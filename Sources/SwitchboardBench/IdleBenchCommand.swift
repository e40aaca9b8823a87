import ArgumentParser
import NIOCore
import Switchboard
import SwitchboardClient

/// `switchboard bench idle`: hold N joined connections for a while and see
/// how many survive and what they cost the server in memory.
struct IdleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Open N joined connections (ramped at --connect-rate), hold them for --duration, count survivors.",
        discussion: """
            With --server-pid, reports the server's RSS per connection ((RSS after − RSS before the \
            ramp) / connections joined) and its CPU while holding them. Without --heartbeat the \
            connections send nothing, and the server closes them after its heartbeat timeout (60 s). \
            Default: 1000 connections.
            """
    )

    @OptionGroup var options: BenchOptions

    @Option(help: "Seconds to wait after the ramp before the RSS reading (lets the server settle).")
    var settle: Double = 1

    mutating func validate() throws {
        guard self.settle >= 0 && self.settle <= 600 else { throw ValidationError("--settle must be 0…600 s") }
    }

    func run() async throws {
        try await BenchEnvironment.run(options: self.options, sockets: self.options.connections ?? 1000) { await self.execute($0) }
    }

    /// The run proper; `false` when nothing could be measured.
    private func execute(_ environment: BenchEnvironment) async -> Bool {
        let options = self.options
        let requested = options.connections ?? 1000
        let stats = environment.stats
        let ramp = ConnectionRamp(
            options: options,
            loops: environment.stats.loops,
            topic: { _ in options.topic },
            prepare: { _, client, channel in
                let box = stats.box(for: client.eventLoop)
                client.onClose { info in
                    box.value.tally.countClose(code: info.code)
                }
                channel.on(ChannelEvent.error) { _ in
                    box.value.tally.countError("phx_error")
                }
                channel.on(ChannelEvent.close) { _ in
                    box.value.tally.countError("phx_close")
                }
            }
        )
        let beforeRamp = options.serverPid.flatMap(ServerSample.read(pid:))
        let cpuBeforeRamp = CPUUsage.selfMicroseconds()
        let outcome = await ramp.open(count: requested)
        let cpuRamp = CPUUsage.selfMicroseconds() - cpuBeforeRamp
        let afterRamp = options.serverPid.flatMap(ServerSample.read(pid:))
        let joined = outcome.connections.count
        BenchOutput.note("\(joined) of \(requested) connections joined in \(ReportValue.format(outcome.seconds, decimals: 1)) s")

        var report = environment.header(mode: "idle", extra: [
            ("connections", .int(requested)),
            ("connect_rate_per_s", .measured(options.connectRate, decimals: 1)),
        ])
        var rampSection = BenchEnvironment.rampSection(outcome, requested: requested)
        rampSection["bench_cpu_us_per_connect"] = .measured(joined > 0 ? Double(cpuRamp) / Double(joined) : nil, decimals: 1)
        if let beforeRamp, let afterRamp {
            let cpu = Double(afterRamp.cpuMicroseconds) - Double(beforeRamp.cpuMicroseconds)
            rampSection["server_cpu_us_per_connect"] = .measured(joined > 0 ? cpu / Double(joined) : nil, decimals: 1)
        }
        report["ramp"] = .section(rampSection)
        guard joined > 0 else {
            BenchOutput.report(report, json: options.json)
            return false
        }

        if self.settle > 0 {
            try? await Task.sleep(for: .nanoseconds(Int64(self.settle * 1e9)))
        }
        let framesBefore = await Self.frames(outcome.connections)
        let window = MeasureWindow.begin(serverPid: options.serverPid)
        let closesBefore = await stats.snapshot().closes
        await window.eachSecond(of: options.duration) { second in
            let tally = await stats.snapshot()
            BenchOutput.progress(
                "[idle \(second)s] open \(joined - (tally.closes - closesBefore))/\(joined)  closes \(tally.closes - closesBefore)  channel errors \(tally.errors.values.reduce(0, +))"
            )
        }
        let tally = await stats.stop()
        let measured = window.end()
        let framesAfter = await Self.frames(outcome.connections)
        let frames = framesAfter > framesBefore ? framesAfter - framesBefore : 0

        let closed = tally.closes - closesBefore
        var hold = ReportSection()
        hold["joined"] = .int(joined)
        hold["survived"] = .int(joined - closed)
        hold["closed"] = .int(closed)
        hold["close_codes"] = .counts(tally.closeCodes)
        hold["channel_errors"] = .counts(tally.errors)
        report["hold"] = .section(hold)
        report["window_s"] = .measured(measured.seconds, decimals: 3)
        report["bench"] = .section(measured.benchSection(frames: frames))
        if var server = measured.serverSection(units: UInt64(joined), perKey: "cpu_us_per_connection") {
            if let beforeRamp {
                if let afterRamp {
                    server["rss_before_ramp_mib"] = .measured(Double(beforeRamp.rssBytes) / 1_048_576, decimals: 1)
                    let delta = Double(afterRamp.rssBytes) - Double(beforeRamp.rssBytes)
                    server["rss_per_connection_kib"] = .measured(delta / Double(joined) / 1024, decimals: 2)
                    if delta <= 0 {
                        server["rss_note"] = .text(MeasureWindow.rssReuseNote)
                    }
                }
                if let end = measured.serverEnd {
                    let delta = Double(end.rssBytes) - Double(beforeRamp.rssBytes)
                    server["rss_per_connection_at_end_kib"] = .measured(delta / Double(joined) / 1024, decimals: 2)
                }
            }
            report["server"] = .section(server)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        BenchOutput.report(report, json: options.json)

        await ConnectionRamp.closeAll(outcome.connections)
        return true
    }

    /// Data frames sent and received so far by all `connections` (heartbeats
    /// and their replies while idle).
    private static func frames(_ connections: [BenchConnection]) async -> UInt64 {
        var total: UInt64 = 0
        for connection in connections {
            let statistics = await connection.client.statistics
            total += UInt64(statistics.framesSent + statistics.framesReceived)
        }
        return total
    }
}
