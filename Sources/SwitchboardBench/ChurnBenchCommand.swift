import ArgumentParser
import NIOCore
import Synchronization
import Switchboard
import SwitchboardClient

/// `switchboard bench churn`: connect, upgrade, join and close, at a rate.
struct ChurnBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn",
        abstract: "At --rate per second: connect + upgrade + join + close (client disconnect), bounded concurrency.",
        discussion: """
            Reports the achieved rate, join latency (connect start → join reply), failures by HTTP \
            status, stage and close code and, with --server-pid, the server's CPU per connect. \
            Default: 500 per second, 256 in flight. Without --source-addresses the kernel picks \
            the source port at connect time (TIME_WAIT ports are reused on loopback); with them, \
            each address has ~28k ports.
            """
    )

    @OptionGroup var options: BenchOptions

    @Option(help: "Connect–join–close cycles in flight at once.")
    var concurrency = 256

    mutating func validate() throws {
        guard (1...100_000).contains(self.concurrency) else { throw ValidationError("--concurrency must be 1…100000") }
    }

    func run() async throws {
        try await BenchEnvironment.run(options: self.options, sockets: self.concurrency) { await self.execute($0) }
    }

    /// The run proper; `false` when nothing could be measured.
    private func execute(_ environment: BenchEnvironment) async -> Bool {
        let options = self.options
        let rate = options.rate ?? 500
        let planned = max(1, Int((rate * options.duration).rounded()))
        let group = environment.group
        let collector = ChurnCollector()
        let topic = options.topic

        var report = environment.header(mode: "churn", extra: [
            ("rate_per_s", .measured(rate, decimals: 3)),
            ("concurrency", .int(self.concurrency)),
        ])

        let window = MeasureWindow.begin(serverPid: options.serverPid)
        let launcher = PacedLauncher(rate: rate, concurrency: self.concurrency, count: planned, launchWindow: options.duration)
        let executors = LoopExecutors(loops: environment.stats.loops)
        var previousCompleted = 0
        var previousAt = window.startedAt
        let outcome = await launcher.run(executors: executors) { elapsed, started in
            let (completed, failed, latency) = collector.state.withLock { ($0.completed, $0.failed, $0.joinLatency) }
            let now = MonotonicClock.now()
            let perSecond = Double(completed - previousCompleted) / MonotonicClock.seconds(from: previousAt, to: now)
            previousCompleted = completed
            previousAt = now
            BenchOutput.progress(
                "[churn \(Int(elapsed.rounded()))s] started \(started)  completed \(completed)  /s \(Int(perSecond))  failed \(failed)  join \(BenchEnvironment.p99Text(latency))"
            )
        } operation: { index in
            let began = MonotonicClock.now()
            var configuration = options.clientConfiguration(index: index, group: group, heartbeat: false)
            configuration.closeTimeout = .seconds(2)
            // The cycle's task runs on its client's loop: no thread switch per await.
            configuration.eventLoopGroup = executors.executor(for: index).eventLoop
            let result = await BenchConnection.open(
                index: index,
                configuration: configuration,
                topic: topic,
                joinTimeout: options.joinTimeoutAmount
            ) { client, _ in
                client.onClose { info in
                    collector.closed(info)
                }
            }
            switch result {
            case .success(let connection):
                let joinedAt = MonotonicClock.now()
                await connection.client.disconnect()
                collector.completed(began: began, joinedAt: joinedAt)
            case .failure(let failure):
                collector.failed(failure.kind)
            }
        }
        let measured = window.end()
        let state = collector.state.withLock { $0 }

        var cycles = ReportSection()
        cycles["planned"] = .int(planned)
        cycles["started"] = .int(outcome.started)
        cycles["completed"] = .int(state.completed)
        cycles["failed"] = .int(state.failed)
        cycles["achieved_per_s"] = .measured(outcome.seconds > 0 ? Double(state.completed) / outcome.seconds : nil, decimals: 1)
        cycles["held_back_by_concurrency"] = .bool(outcome.throttled > 0)
        cycles["seconds"] = .measured(outcome.seconds, decimals: 3)
        report["cycles"] = .section(cycles)
        report["join_latency"] = .section(state.joinLatency.reportSection())
        report["failures"] = .counts(state.failures)
        report["close_codes"] = .counts(state.closeCodes)
        report["window_s"] = .measured(measured.seconds, decimals: 3)
        // Each cycle: phx_join out, its reply in.
        let completed = UInt64(state.completed)
        report["bench"] = .section(measured.benchSection(frames: completed * 2, extra: [
            ("cpu_us_per_connect", .measured(completed > 0 ? Double(measured.selfCPUMicroseconds) / Double(completed) : nil, decimals: 1)),
        ]))
        if let server = measured.serverSection(units: completed, perKey: "cpu_us_per_connect") {
            report["server"] = .section(server)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        BenchOutput.report(report, json: options.json)
        return true
    }
}

/// The churn cycles' outcomes, from the tasks and event loops that finish them.
final class ChurnCollector: Sendable {
    struct State {
        var completed = 0
        var failed = 0
        var failures: [String: Int] = [:]
        /// Close code of every close: the server's close frame code for
        /// closes the client started (`1000` expected), `server_<code>` for
        /// closes the server started, `none` without a close frame.
        var closeCodes: [String: Int] = [:]
        var joinLatency = LatencyHistogram()
    }

    let state = Mutex(State())

    func completed(began: UInt64, joinedAt: UInt64) {
        self.state.withLock { state in
            state.completed += 1
            state.joinLatency.record(from: began, to: joinedAt)
        }
    }

    func failed(_ kind: String) {
        self.state.withLock { state in
            state.failed += 1
            BenchTally.count(kind, in: &state.failures)
        }
    }

    func closed(_ info: PhoenixClient.CloseInfo) {
        let code = info.code.map(String.init) ?? "none"
        let key = info.initiatedLocally ? code : "server_\(code)"
        self.state.withLock { state in
            BenchTally.count(key, in: &state.closeCodes)
        }
    }
}
