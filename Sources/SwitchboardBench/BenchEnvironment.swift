import Switchboard
import ArgumentParser
import NIOCore
import NIOPosix

/// Setup shared by the modes: file limit, the client event loop group, the
/// per-loop stats, and the report's common header.
struct BenchEnvironment {
    let options: BenchOptions
    let group: MultiThreadedEventLoopGroup
    let stats: LoopStatsSet
    let loadAtStart: Double?

    /// Raises the open-file limit and starts `--threads` event loops. Warns
    /// when `sockets` will not fit in the file limit.
    init(options: BenchOptions, sockets: Int) {
        self.options = options
        if let limit = OpenFileLimit.raiseToHardLimit()?.now, UInt64(sockets) + 64 > limit {
            BenchOutput.note("open-file limit \(limit) is below the \(sockets) sockets planned; raise it (ulimit -n) or expect failures")
        }
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        self.stats = LoopStatsSet(group: self.group)
        self.loadAtStart = MachineLoad.oneMinute()
    }

    /// Runs one bench: makes the environment, runs `execute`, then shuts the
    /// environment down (after every client is released, so the hops their
    /// deinit makes to the event loops run before the loops stop). Exits
    /// with a failure when `execute` could measure nothing.
    static func run(options: BenchOptions, sockets: Int, _ execute: (BenchEnvironment) async -> Bool) async throws {
        let environment = BenchEnvironment(options: options, sockets: sockets)
        let succeeded = await execute(environment)
        await environment.shutdown()
        if !succeeded {
            throw ExitCode.failure
        }
    }

    func shutdown() async {
        try? await self.group.shutdownGracefully()
    }

    /// `mode`, the target and the settings every report starts with.
    func header(mode: String, extra: [(String, ReportValue)] = []) -> ReportSection {
        var section = ReportSection()
        section["mode"] = .text(mode)
        section["target"] = .text("ws://\(self.options.host):\(self.options.port)\(self.options.path)")
        section["topic"] = .text(self.options.topic)
        section["transport"] = .text(self.options.transport.rawValue)
        for (key, value) in extra {
            section[key] = value
        }
        section["duration_s"] = .measured(self.options.duration, decimals: 3)
        section["payload_size"] = .int(self.options.payloadSize)
        section["threads"] = .int(self.options.threads)
        section["heartbeat"] = .bool(self.options.heartbeat)
        section["source_addresses"] = .int(max(1, self.options.sources.count))
        section["machine_load_1m_at_start"] = .measured(self.loadAtStart, decimals: 2)
        return section
    }

    /// The ramp's outcome as a report section.
    static func rampSection(_ outcome: ConnectionRamp.Outcome, requested: Int) -> ReportSection {
        var section = ReportSection()
        section["requested"] = .int(requested)
        section["joined"] = .int(outcome.connections.count)
        section["failed"] = .int(outcome.failed)
        section["seconds"] = .measured(outcome.seconds, decimals: 2)
        section["failures"] = .counts(outcome.failures)
        section["join_p50_ms"] = .milliseconds(outcome.joinLatency.milliseconds(atPercentile: 50))
        section["join_p99_ms"] = .milliseconds(outcome.joinLatency.milliseconds(atPercentile: 99))
        return section
    }

    /// A progress line's latency part.
    static func p99Text(_ latency: LatencyHistogram) -> String {
        latency.milliseconds(atPercentile: 99).map { "p99 \(ReportValue.format($0, decimals: 2)) ms" } ?? "p99 -"
    }
}
