import NIOCore

/// The measured part of a run: wall time, this process's CPU time and,
/// with `--server-pid`, the server's CPU time and RSS, read at its start and
/// end.
struct MeasureWindow: Sendable {
    let serverPid: Int32?
    let startedAt: UInt64
    let selfCPUStart: UInt64
    let serverStart: ServerSample?

    /// Why an RSS delta can be zero: the allocator keeps freed memory.
    static let rssReuseNote = "RSS did not grow: the server reused memory freed by earlier connections; measure memory per connection on a freshly started server"

    static func begin(serverPid: Int32?) -> MeasureWindow {
        MeasureWindow(
            serverPid: serverPid,
            startedAt: MonotonicClock.now(),
            selfCPUStart: CPUUsage.selfMicroseconds(),
            serverStart: serverPid.flatMap(ServerSample.read(pid:))
        )
    }

    /// Calls `body` with 1, 2, … at each whole second after the window's
    /// start, for as long as those seconds fall within `duration` seconds.
    func eachSecond(of duration: Double, _ body: (Int) async -> Void) async {
        let deadline = self.startedAt + UInt64(duration * 1e9)
        var second = 0
        while MonotonicClock.now() < deadline {
            second += 1
            let wake = min(deadline, self.startedAt + UInt64(second) * 1_000_000_000)
            let now = MonotonicClock.now()
            if wake > now {
                try? await Task.sleep(for: .nanoseconds(Int64(wake - now)))
            }
            guard wake < deadline else { return }
            await body(second)
        }
    }

    func end() -> Measured {
        let serverEnd = self.serverPid.flatMap(ServerSample.read(pid:))
        let endedAt = MonotonicClock.now()
        let selfCPU = CPUUsage.selfMicroseconds()
        return Measured(
            seconds: MonotonicClock.seconds(from: self.startedAt, to: endedAt),
            selfCPUMicroseconds: selfCPU > self.selfCPUStart ? selfCPU - self.selfCPUStart : 0,
            serverStart: self.serverStart,
            serverEnd: serverEnd
        )
    }
}

/// What a ``MeasureWindow`` measured.
struct Measured: Sendable {
    var seconds: Double
    var selfCPUMicroseconds: UInt64
    var serverStart: ServerSample?
    var serverEnd: ServerSample?

    /// Server CPU time spent in the window, in microseconds.
    var serverCPUMicroseconds: UInt64? {
        guard let start = self.serverStart, let end = self.serverEnd else { return nil }
        return end.cpuMicroseconds > start.cpuMicroseconds ? end.cpuMicroseconds - start.cpuMicroseconds : 0
    }

    /// The bench's CPU use: total, cores, and per frame (`frames` received
    /// plus sent by the bench in the window).
    func benchSection(frames: UInt64, extra: [(String, ReportValue)] = []) -> ReportSection {
        var section = ReportSection()
        let cpu = Double(self.selfCPUMicroseconds)
        section["cpu_seconds"] = .measured(cpu / 1e6, decimals: 3)
        section["cores_used"] = .measured(self.seconds > 0 ? cpu / 1e6 / self.seconds : nil, decimals: 3)
        section["frames"] = .int(Int(frames))
        section["cpu_us_per_frame"] = .measured(frames > 0 ? cpu / Double(frames) : nil, decimals: 2)
        for (key, value) in extra {
            section[key] = value
        }
        return section
    }

    /// The server's CPU use over the window, `per` one unit of work (`perKey`
    /// names it: `cpu_us_per_delivery`, …); `nil` without `--server-pid`.
    func serverSection(units: UInt64, perKey: String) -> ReportSection? {
        guard let start = self.serverStart, let end = self.serverEnd, let cpuMicros = self.serverCPUMicroseconds else { return nil }
        var section = ReportSection()
        let cpu = Double(cpuMicros)
        section["cpu_seconds"] = .measured(cpu / 1e6, decimals: 3)
        section["cores_used"] = .measured(self.seconds > 0 ? cpu / 1e6 / self.seconds : nil, decimals: 3)
        section[perKey] = .measured(units > 0 ? cpu / Double(units) : nil, decimals: 2)
        section["rss_start_mib"] = .measured(Double(start.rssBytes) / 1_048_576, decimals: 1)
        section["rss_end_mib"] = .measured(Double(end.rssBytes) / 1_048_576, decimals: 1)
        return section
    }
}

/// The machine's 1-minute load average (other work on the machine skews
/// the figures; the report says how busy it was).
enum MachineLoad {
    static func oneMinute() -> Double? {
        guard let text = ProcFile.read("/proc/loadavg"), let first = text.split(separator: " ").first else { return nil }
        return Double(first)
    }
}
