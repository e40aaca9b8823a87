import ArgumentParser
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardClient

/// `switchboard bench fanout`: N connections join one topic; broadcasts are
/// published at a rate through `POST /api/broadcast`; every receiver records
/// the time since the broadcast's send time.
struct FanoutBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "N subscribers of one topic; broadcasts at --rate per second through POST /api/broadcast.",
        discussion: """
            Reports the delivery ratio (received / (broadcasts accepted × connections joined)), \
            deliveries per second, latency percentiles (publish → receive, CLOCK_MONOTONIC), the bench's \
            CPU per frame and, with --server-pid, the server's CPU per delivery. \
            Defaults: 1000 connections, 10 broadcasts/s.
            """
    )

    @OptionGroup var options: BenchOptions

    @Option(help: "Key for POST /api/broadcast (sent as Authorization: Bearer).")
    var apiKey: String

    @Option(help: "Event name of the broadcasts.")
    var event = "bench"

    @Option(help: "Keep-alive HTTP connections the broadcasts are published over.")
    var publishers = 2

    @Option(help: ArgumentHelp("Port of the node the broadcasts are published through (default --port): with another node of the cluster, measures cross-node fan-out.", valueName: "port"))
    var publishPort: Int?

    @Option(help: "Seconds to wait, after the last broadcast was answered, for deliveries still on their way.")
    var drain: Double = 5

    @Flag(help: "Receive with the full Phoenix client, which decodes every frame, instead of the lean receiver.")
    var fullClient = false

    mutating func validate() throws {
        guard (1...64).contains(self.publishers) else { throw ValidationError("--publishers must be 1…64") }
        if let publishPort = self.publishPort, !(1...65535).contains(publishPort) { throw ValidationError("--publish-port must be 1…65535") }
        guard self.drain >= 0 && self.drain <= 600 else { throw ValidationError("--drain must be 0…600 s") }
        guard !self.event.isEmpty else { throw ValidationError("--event must not be empty") }
        guard !(self.fullClient && self.options.compress) else { throw ValidationError("--compress needs the lean receiver (no --full-client)") }
    }

    func run() async throws {
        try await BenchEnvironment.run(options: self.options, sockets: (self.options.connections ?? 1000) + self.publishers) { await self.execute($0) }
    }

    /// The run proper; `false` when nothing could be measured.
    private func execute(_ environment: BenchEnvironment) async -> Bool {
        let options = self.options
        let requested = options.connections ?? 1000
        let rate = options.rate ?? 10
        let broadcasts = max(1, Int((rate * options.duration).rounded()))
        let publisherGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stats = environment.stats
        let event = self.event
        if !options.heartbeat && Double(requested) / options.connectRate + options.duration + self.drain > 50 {
            BenchOutput.note("no --heartbeat: the server closes silent connections after its heartbeat timeout (60 s by default)")
        }

        let beforeRamp = options.serverPid.flatMap(ServerSample.read(pid:))
        let subscribers = self.fullClient || !options.transport.allowsLeanClient
            ? await Self.openFullClients(count: requested, options: options, stats: stats, event: event)
            : await Self.openLean(count: requested, options: options, stats: stats)
        let joined = subscribers.joined
        BenchOutput.note("\(joined) of \(requested) connections joined \(options.topic) in \(ReportValue.format(subscribers.seconds, decimals: 1)) s")

        var report = environment.header(mode: "fanout", extra: [
            ("connections", .int(requested)),
            ("rate_per_s", .measured(rate, decimals: 3)),
            ("publishers", .int(self.publishers)),
        ])
        if let publishPort = self.publishPort {
            report["published_through_port"] = .int(publishPort)
        }
        report["receiver"] = .text(
            self.fullClient || !options.transport.allowsLeanClient ? "full client" : options.compress ? "lean, permessage-deflate offered" : "lean"
        )
        report["payload"] = .text(options.payload.rawValue)
        report["ramp"] = .section(subscribers.rampSection)

        guard joined > 0 else {
            BenchOutput.report(report, json: options.json)
            try? await publisherGroup.shutdownGracefully()
            return false
        }

        let publisher = BroadcastPublisher(
            plan: BroadcastPlan(
                host: options.host,
                port: self.publishPort ?? options.port,
                apiKey: self.apiKey,
                topic: options.topic,
                event: event,
                rate: rate,
                count: broadcasts,
                fields: BroadcastPayload.fields(shape: options.payload, size: options.payloadSize),
                connections: self.publishers
            ),
            eventLoop: publisherGroup.next()
        )
        do {
            try await publisher.connect()
        } catch {
            BenchOutput.note("cannot open the publisher connections: \(error)")
            await subscribers.close()
            try? await publisherGroup.shutdownGracefully()
            return false
        }

        // Measured window: first broadcast → last delivery (or the drain timeout).
        let window = MeasureWindow.begin(serverPid: options.serverPid)
        let closesBefore = await stats.snapshot().closes
        async let published = publisher.run()
        var previous = BenchTally()
        var previousAt = window.startedAt
        for second in 1...max(1, Int(options.duration.rounded(.up))) {
            let wake = window.startedAt + UInt64(second) * 1_000_000_000
            let now = MonotonicClock.now()
            if wake > now {
                try? await Task.sleep(for: .nanoseconds(Int64(wake - now)))
            }
            let tally = await stats.snapshot()
            let at = MonotonicClock.now()
            let perSecond = Double(tally.received - previous.received) / MonotonicClock.seconds(from: previousAt, to: at)
            BenchOutput.progress(
                "[fanout \(second)s] conns \(joined - (tally.closes - closesBefore))  deliveries/s \(Int(perSecond))  total \(tally.received)  \(BenchEnvironment.p99Text(tally.latency))"
            )
            previous = tally
            previousAt = at
        }
        let summary = await published
        let expected = UInt64(summary.accepted) * UInt64(joined)
        let drainDeadline = MonotonicClock.now() + UInt64(self.drain * 1e9)
        var tally = await stats.snapshot()
        while tally.received < expected && MonotonicClock.now() < drainDeadline {
            try? await Task.sleep(for: .milliseconds(20))
            tally = await stats.snapshot()
        }
        tally = await stats.stop()
        let measured = window.end()
        await publisher.close()

        var broadcastSection = ReportSection()
        broadcastSection["planned"] = .int(broadcasts)
        broadcastSection["sent"] = .int(summary.sent)
        broadcastSection["accepted"] = .int(summary.accepted)
        broadcastSection["skipped_backlog"] = .int(summary.skipped)
        broadcastSection["statuses"] = .counts(summary.statuses)
        broadcastSection["errors"] = .counts(summary.errors)
        broadcastSection["publish_seconds"] = .measured(MonotonicClock.seconds(from: summary.firstSentAt, to: summary.lastSentAt), decimals: 3)
        report["broadcasts"] = .section(broadcastSection)
        if summary.accepted == 0 && summary.sent > 0 {
            BenchOutput.note("the server accepted none of the broadcasts (HTTP \(summary.statuses.keys.sorted().joined(separator: ", "))): check --api-key and that the server has one")
        }

        var deliveries = ReportSection()
        deliveries["received"] = .int(Int(tally.received))
        deliveries["expected"] = .int(Int(expected))
        deliveries["ratio"] = .measured(expected > 0 ? Double(tally.received) / Double(expected) : nil, decimals: 5)
        let deliverySeconds = MonotonicClock.seconds(from: summary.firstSentAt, to: max(tally.lastReceivedAt, summary.lastSentAt))
        deliveries["per_second"] = .measured(deliverySeconds > 0 ? Double(tally.received) / deliverySeconds : nil, decimals: 0)
        if !self.fullClient && options.transport.allowsLeanClient {
            deliveries["wire_bytes_per_delivery"] = .measured(tally.received > 0 ? Double(tally.wireBytes) / Double(tally.received) : nil, decimals: 1)
            deliveries["compressed_ratio"] = .measured(tally.received > 0 ? Double(tally.compressedFrames) / Double(tally.received) : nil, decimals: 4)
        }
        deliveries["errors"] = .counts(tally.errors)
        report["deliveries"] = .section(deliveries)
        report["latency"] = .section(tally.latency.reportSection())

        var closes = ReportSection()
        closes["during_run"] = .int(tally.closes - closesBefore)
        closes["by_code"] = .counts(tally.closeCodes)
        report["closes"] = .section(closes)

        report["window_s"] = .measured(measured.seconds, decimals: 3)
        report["bench"] = .section(measured.benchSection(frames: tally.received))
        if var server = measured.serverSection(units: tally.received, perKey: "cpu_us_per_delivery") {
            if let beforeRamp, let start = measured.serverStart {
                let delta = Double(start.rssBytes) - Double(beforeRamp.rssBytes)
                server["rss_per_connection_kib"] = .measured(delta / Double(joined) / 1024, decimals: 2)
                if delta <= 0 {
                    server["rss_note"] = .text(MeasureWindow.rssReuseNote)
                }
            }
            report["server"] = .section(server)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        BenchOutput.report(report, json: options.json)

        await subscribers.close()
        try? await publisherGroup.shutdownGracefully()
        return true
    }

    /// The subscribers of a run, whichever receiver opened them.
    private struct Subscribers {
        var joined: Int
        var seconds: Double
        var rampSection: ReportSection
        var close: @Sendable () async -> Void
    }

    /// Lean receivers (``LeanSubscriber``): a frame costs the bench one pass over its bytes.
    private static func openLean(count: Int, options: BenchOptions, stats: LoopStatsSet) async -> Subscribers {
        let outcome = await LeanRamp.open(count: count, options: options, stats: stats)
        let channels = outcome.channels
        return Subscribers(
            joined: channels.count,
            seconds: outcome.seconds,
            rampSection: Self.rampSection(requested: count, joined: channels.count, failures: outcome.failures,
                                          seconds: outcome.seconds, joinLatency: outcome.joinLatency),
            close: { await LeanRamp.closeAll(channels) }
        )
    }

    /// Full Phoenix clients: every frame is decoded and routed to its channel.
    private static func openFullClients(count: Int, options: BenchOptions, stats: LoopStatsSet, event: String) async -> Subscribers {
        let ramp = ConnectionRamp(
            options: options,
            loops: stats.loops,
            topic: { _ in options.topic },
            prepare: { _, client, channel in
                let box = stats.box(for: client.eventLoop)
                channel.on(event) { message in
                    let now = MonotonicClock.now()
                    let stats = box.value
                    stats.tally.received &+= 1
                    stats.tally.lastReceivedAt = now
                    if case .json(let payload) = message.payload, let sentAt = payload["t"]?.intValue, sentAt > 0 {
                        stats.tally.latency.record(from: UInt64(sentAt), to: now)
                    } else {
                        stats.tally.countError("no_send_time")
                    }
                }
                client.onClose { info in
                    box.value.tally.countClose(code: info.code)
                }
            }
        )
        let outcome = await ramp.open(count: count)
        let connections = outcome.connections
        return Subscribers(
            joined: connections.count,
            seconds: outcome.seconds,
            rampSection: BenchEnvironment.rampSection(outcome, requested: count),
            close: { await ConnectionRamp.closeAll(connections) }
        )
    }

    private static func rampSection(requested: Int, joined: Int, failures: [String: Int], seconds: Double, joinLatency: LatencyHistogram) -> ReportSection {
        var section = ReportSection()
        section["requested"] = .int(requested)
        section["joined"] = .int(joined)
        section["failed"] = .int(failures.values.reduce(0, +))
        section["seconds"] = .measured(seconds, decimals: 2)
        section["failures"] = .counts(failures)
        section["join_p50_ms"] = .milliseconds(joinLatency.milliseconds(atPercentile: 50))
        section["join_p99_ms"] = .milliseconds(joinLatency.milliseconds(atPercentile: 99))
        return section
    }
}
