import ArgumentParser
import NIOCore
import Switchboard
import SwitchboardClient

/// `switchboard bench echo`: N connections push `ping` and time the replies,
/// closed loop (the next push when the reply arrives) or at a fixed rate per
/// connection.
struct EchoBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "N connections push ping (closed loop, or --rate pushes/s per connection) and time the replies.",
        discussion: """
            Reports requests per second, round-trip percentiles, the bench's CPU per frame and, with \
            --server-pid, the server's CPU per request. Defaults: 200 connections, closed loop, \
            one shared topic (--own-topic: <topic>:<n> per connection). The server's per-socket \
            inbound message rate limit (limits.message_rate, 200/s by default) closes closed-loop \
            connections with 1008: run the server with SWITCHBOARD_LIMITS_MESSAGE_RATE=0.
            """
    )

    @OptionGroup var options: BenchOptions

    @Flag(help: "Each connection joins its own topic <topic>:<n> instead of the shared one.")
    var ownTopic = false

    @Option(help: "Event pushed (the built-in room channel answers ping with the payload).")
    var event = "ping"

    @Option(help: "With --rate: replies a connection may await before a due push is skipped.")
    var maxOutstanding = 64

    @Option(help: "Seconds a push may wait for its reply.")
    var pushTimeout: Double = 10

    @Flag(help: "Push with the full Phoenix client, which decodes every reply (always so with --rate or --own-topic), instead of the lean client.")
    var fullClient = false

    mutating func validate() throws {
        guard (1...100_000).contains(self.maxOutstanding) else { throw ValidationError("--max-outstanding must be 1…100000") }
        guard self.pushTimeout > 0 && self.pushTimeout <= 600 else { throw ValidationError("--push-timeout must be > 0 and at most 600 s") }
    }

    func run() async throws {
        try await BenchEnvironment.run(options: self.options, sockets: self.options.connections ?? 200) { await self.execute($0) }
    }

    /// The run proper; `false` when nothing could be measured.
    private func execute(_ environment: BenchEnvironment) async -> Bool {
        if !self.fullClient && self.options.rate == nil && !self.ownTopic && self.options.transport.allowsLeanClient {
            return await self.executeLean(environment)
        }
        let options = self.options
        let requested = options.connections ?? 200
        let stats = environment.stats
        let ownTopic = self.ownTopic
        let ramp = ConnectionRamp(
            options: options,
            loops: environment.stats.loops,
            topic: { index in ownTopic ? "\(options.topic):\(index)" : options.topic },
            prepare: { _, client, _ in
                let box = stats.box(for: client.eventLoop)
                client.onClose { info in
                    box.value.tally.countClose(code: info.code)
                }
            }
        )
        let outcome = await ramp.open(count: requested)
        let joined = outcome.connections.count
        BenchOutput.note("\(joined) of \(requested) connections joined in \(ReportValue.format(outcome.seconds, decimals: 1)) s")

        var report = environment.header(mode: "echo", extra: [
            ("connections", .int(requested)),
            ("own_topic", .bool(ownTopic)),
            ("load", .text(options.rate.map { "fixed \(ReportValue.format($0, decimals: 3))/s per connection" } ?? "closed loop")),
        ])
        report["ramp"] = .section(BenchEnvironment.rampSection(outcome, requested: requested))
        guard joined > 0 else {
            BenchOutput.report(report, json: options.json)
            return false
        }

        let echo = EchoLoop(
            event: self.event,
            payload: .json(["pad": .string(options.padding)]),
            timeout: .nanoseconds(Int64(self.pushTimeout * 1e9))
        )
        let connections = outcome.connections
        let maxOutstanding = self.maxOutstanding
        report = await self.measure(environment, joined: joined, report: report) {
            var byLoop: [ObjectIdentifier: (loop: any EventLoop, connections: [BenchConnection])] = [:]
            for connection in connections {
                byLoop[ObjectIdentifier(connection.eventLoop), default: (connection.eventLoop, [])].connections.append(connection)
            }
            for (loop, connections) in byLoop.values {
                let box = stats.box(for: loop)
                if let rate = options.rate {
                    loop.execute {
                        EchoRateDriver(
                            connections: connections,
                            stats: box,
                            echo: echo,
                            ratePerConnection: rate,
                            maxOutstanding: maxOutstanding,
                            eventLoop: loop
                        ).start()
                    }
                } else {
                    loop.execute {
                        for connection in connections {
                            echo.fire(connection.channel, stats: box)
                        }
                    }
                }
            }
        }
        BenchOutput.report(report, json: options.json)

        await ConnectionRamp.closeAll(outcome.connections)
        return true
    }

    /// Starts the load with `start`, measures for `--duration`, and adds the
    /// figures to `report`.
    private func measure(_ environment: BenchEnvironment, joined: Int, report: ReportSection, start: () -> Void) async -> ReportSection {
        let options = self.options
        let stats = environment.stats
        var report = report
        let window = MeasureWindow.begin(serverPid: options.serverPid)
        let closesBefore = await stats.snapshot().closes
        start()

        var previous = BenchTally()
        var previousAt = window.startedAt
        await window.eachSecond(of: options.duration) { second in
            let tally = await stats.snapshot()
            let at = MonotonicClock.now()
            let perSecond = Double(tally.received - previous.received) / MonotonicClock.seconds(from: previousAt, to: at)
            BenchOutput.progress(
                "[echo \(second)s] conns \(joined - (tally.closes - closesBefore))  req/s \(Int(perSecond))  total \(tally.received)  \(BenchEnvironment.p99Text(tally.latency))"
            )
            previous = tally
            previousAt = at
        }
        var tally = await stats.stop()
        let measured = window.end()
        // Let the replies in flight arrive (counted as late, outside the window).
        try? await Task.sleep(for: .milliseconds(500))
        let late = await stats.snapshot().late

        var requests = ReportSection()
        requests["sent"] = .int(Int(tally.sent))
        requests["answered_ok"] = .int(Int(tally.received))
        requests["per_second"] = .measured(measured.seconds > 0 ? Double(tally.received) / measured.seconds : nil, decimals: 0)
        requests["skipped_outstanding"] = .int(Int(tally.skipped))
        requests["late_after_window"] = .int(Int(late))
        requests["errors"] = .counts(tally.errors)
        report["requests"] = .section(requests)
        report["round_trip"] = .section(tally.latency.reportSection())
        if let policyCloses = tally.closeCodes["1008"], policyCloses > 0 {
            BenchOutput.note(
                "the server closed \(policyCloses) connections with 1008 (policy violation): likely its inbound message rate limit; for this bench run it with SWITCHBOARD_LIMITS_MESSAGE_RATE=0 (or limits.message_rate: 0)"
            )
        }
        var closes = ReportSection()
        closes["during_run"] = .int(tally.closes - closesBefore)
        closes["by_code"] = .counts(tally.closeCodes)
        report["closes"] = .section(closes)
        report["window_s"] = .measured(measured.seconds, decimals: 3)
        tally.late = late
        report["bench"] = .section(measured.benchSection(frames: tally.sent + tally.received))
        if let server = measured.serverSection(units: tally.received, perKey: "cpu_us_per_request") {
            report["server"] = .section(server)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        return report
    }

    /// Closed loop over lean clients (``LeanSubscriber``): a reply costs the
    /// bench one pass over its bytes, not a decode.
    private func executeLean(_ environment: BenchEnvironment) async -> Bool {
        let options = self.options
        let requested = options.connections ?? 200
        let outcome = await LeanRamp.open(count: requested, options: options, stats: environment.stats, echoEvent: self.event)
        let joined = outcome.channels.count
        BenchOutput.note("\(joined) of \(requested) connections joined in \(ReportValue.format(outcome.seconds, decimals: 1)) s")
        var report = environment.header(mode: "echo", extra: [
            ("connections", .int(requested)),
            ("own_topic", .bool(false)),
            ("load", .text("closed loop")),
            ("client", .text("lean")),
        ])
        var ramp = ReportSection()
        ramp["requested"] = .int(requested)
        ramp["joined"] = .int(joined)
        ramp["failed"] = .int(outcome.failures.values.reduce(0, +))
        ramp["seconds"] = .measured(outcome.seconds, decimals: 2)
        ramp["failures"] = .counts(outcome.failures)
        ramp["join_p50_ms"] = .milliseconds(outcome.joinLatency.milliseconds(atPercentile: 50))
        ramp["join_p99_ms"] = .milliseconds(outcome.joinLatency.milliseconds(atPercentile: 99))
        report["ramp"] = .section(ramp)
        guard joined > 0 else {
            BenchOutput.report(report, json: options.json)
            return false
        }
        let channels = outcome.channels
        report = await self.measure(environment, joined: joined, report: report) {
            for channel in channels {
                channel.pipeline.fireUserInboundEventTriggered(LeanSubscriber.StartEcho())
            }
        }
        BenchOutput.report(report, json: options.json)
        await LeanRamp.closeAll(channels)
        return true
    }
}
