import ArgumentParser
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `switchboard bench watch`: holds N reconnecting clients on M topics (for
/// instance through a load balancer during a deploy) and reports what they
/// lived through: each client's longest gap without messages, reconnects,
/// refused upgrades by HTTP status, close codes, and whether every client
/// ends connected and joined.
struct WatchBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Hold N reconnecting clients on M topics and report their experience (gaps, reconnects, errors).",
        discussion: """
            Clients join <topic>:0 … <topic>:<M-1> in turn and reconnect and rejoin as phoenix.js \
            does. With --publish-rate, --publishers clients of their own push `shout` (the built-in \
            room:* channels broadcast it) to every topic that many times per second; otherwise the \
            traffic comes from elsewhere. Runs for --duration seconds or until SIGTERM / SIGINT, \
            then prints the report (--json for one JSON object). A client's gap is the longest time \
            it went without a message while being watched (end of the ramp → end). With --presence \
            each client is user u<number> and keeps its topic's presence list: the report says \
            whether every list ends exact and how often a member vanished from a list beyond the \
            times that member was moved (reconnected). Exits 1 when a client ends disconnected or \
            not joined, or with --presence, when a list is not exact.
            """
    )

    @OptionGroup var options: BenchOptions

    @Option(help: "Topics the clients are spread over: <topic>:0 … <topic>:<M-1>.")
    var topics = 50

    @Option(help: "Broadcasts per second to each topic, by the publishers (0: watch only).")
    var publishRate: Double = 0

    @Option(help: "Publisher clients (topics are split among them; each socket stays under the server's message rate).")
    var publishers = 10

    @Option(help: "Seconds, at the end, clients still reconnecting are given to be connected and joined again.")
    var settle: Double = 10

    @Flag(help: "Keep each topic's presence list (servers with presence on the topics); user_id=u<number> unless --param says otherwise.")
    var presence = false

    mutating func validate() throws {
        guard (1...100_000).contains(self.topics) else { throw ValidationError("--topics must be 1…100000") }
        guard self.publishRate >= 0 && self.publishRate <= 10_000 else { throw ValidationError("--publish-rate must be 0…10000") }
        guard (1...1000).contains(self.publishers) else { throw ValidationError("--publishers must be 1…1000") }
        guard self.settle >= 0 && self.settle <= 600 else { throw ValidationError("--settle must be 0…600 s") }
    }

    func run() async throws {
        WatchSignals.install()
        let publishers = self.publishRate > 0 ? min(self.publishers, self.topics) : 0
        var options = self.options
        if self.presence && options.params.isEmpty { options.params = ["user_id=u{index}"] }
        try await BenchEnvironment.run(options: options, sockets: (options.connections ?? 1000) + publishers) { await self.execute($0, publishers: publishers) }
    }

    private func execute(_ environment: BenchEnvironment, publishers publisherCount: Int) async -> Bool {
        let options = environment.options
        let requested = options.connections ?? 1000
        let tally = WatchTally()
        let records = (0..<requested).map { _ in WatchedClient() }
        let views = self.presence ? (0..<requested).map { _ in WatchedPresence() } : []
        let topicCount = self.topics
        let topic: @Sendable (Int) -> String = { "\(options.topic):\($0 % topicCount)" }

        var ramp = ConnectionRamp(
            options: options,
            loops: environment.stats.loops,
            topic: topic,
            prepare: { index, client, channel in
                let record = records[index]
                channel.on("shout") { _ in record.received(at: MonotonicClock.now()) }
                if !views.isEmpty {
                    let view = views[index]
                    _ = channel.on("presence_state") { view.state($0.payload) }
                    _ = channel.on("presence_diff") { view.diff($0.payload) }
                }
                client.onOpen { record.setOpen(true, at: MonotonicClock.now()) }
                client.onClose { info in
                    record.setOpen(false, at: MonotonicClock.now())
                    tally.closed(code: info.code, at: MonotonicClock.now())
                }
                client.onError { error in tally.failed(error) }
            }
        )
        ramp.reconnect = true
        let outcome = await ramp.open(count: requested)
        let clients = outcome.connections
        BenchOutput.note("\(clients.count) of \(requested) clients joined \(topicCount) topics in \(ReportValue.format(outcome.seconds, decimals: 1)) s")

        var report = environment.header(mode: "watch", extra: [
            ("clients", .int(requested)),
            ("topics", .int(topicCount)),
            ("publish_rate_per_topic", .measured(self.publishRate, decimals: 3)),
            ("publishers", .int(publisherCount)),
        ])
        report["ramp"] = .section(BenchEnvironment.rampSection(outcome, requested: requested))
        guard !clients.isEmpty else {
            BenchOutput.report(report, json: options.json)
            return false
        }

        let publishing = WatchPublishers(count: publisherCount, topics: (0..<topicCount).map(topic), rate: self.publishRate)
        await publishing.open(options: options, group: environment.group)

        // Watched window: from here to the end (duration or signal).
        let startedAt = MonotonicClock.now()
        tally.start(at: startedAt)
        for connection in clients { records[connection.index].start(at: startedAt) }
        publishing.start()
        let ends = startedAt + UInt64(options.duration * 1e9)
        var second = 0
        var lastReceived = 0
        while MonotonicClock.now() < ends && !WatchSignals.stopRequested {
            try? await Task.sleep(for: .milliseconds(100))
            let elapsed = Int(MonotonicClock.seconds(from: startedAt, to: MonotonicClock.now()))
            guard elapsed > second else { continue }
            second = elapsed
            let received = records.reduce(0) { $0 + $1.snapshot.received }
            let open = clients.reduce(0) { $0 + (records[$1.index].snapshot.open ? 1 : 0) }
            let counts = tally.snapshot
            BenchOutput.progress("[watch \(second)s] connected \(open)/\(clients.count)  closes \(counts.closes)  refused \(counts.httpErrors.values.reduce(0, +))  deliveries/s \(received - lastReceived)")
            lastReceived = received
        }
        let signalled = WatchSignals.stopRequested
        await publishing.stop()
        let endedAt = MonotonicClock.now()

        // Clients still reconnecting get --settle seconds to be back (and
        // with --presence, every list to be exact).
        let presenceCheck = WatchPresenceCheck(views: views, clients: clients, topics: topicCount)
        var final = await WatchFinalState.read(clients)
        let settleDeadline = MonotonicClock.now() + UInt64(self.settle * 1e9)
        while !(final.allJoined && presenceCheck.allExact) && MonotonicClock.now() < settleDeadline {
            try? await Task.sleep(for: .milliseconds(250))
            final = await WatchFinalState.read(clients)
        }

        report["watched_s"] = .measured(MonotonicClock.seconds(from: startedAt, to: endedAt), decimals: 3)
        report["ended_by"] = .text(signalled ? "signal" : "duration")
        report["final"] = .section(final.section(clients: clients.count))
        let gaps = clients.map { records[$0.index].longestGap(until: endedAt) }
        var gapSection = Self.percentiles(gaps.map(\.milliseconds).sorted(), decimals: 1)
        // When the longest gaps ended: together for a stall of the whole
        // cluster, spread out when each client's own reconnect caused it.
        let gapEnds = Self.percentiles(gaps.map { MonotonicClock.seconds(from: startedAt, to: $0.endedAt) }.sorted(), decimals: 2)
        gapSection["ended_at_s"] = .section(gapEnds)
        report["gaps_ms"] = .section(gapSection)
        // The long-poll clients of a mixed population (--longpoll-connections), on their own.
        let isLongPoll = clients.map { options.transport(forConnection: $0.index) == .longpoll }
        let mixed = isLongPoll.contains(true) && isLongPoll.contains(false)
        if mixed {
            let longPollGaps = zip(gaps, isLongPoll).filter(\.1).map(\.0)
            report["gaps_ms_longpoll"] = .section(Self.percentiles(longPollGaps.map(\.milliseconds).sorted(), decimals: 1))
        }
        report["reconnects"] = .section(final.reconnectSection)
        let moves = clients.map { records[$0.index].snapshot.moves }
        report["moves_ms"] = .section(Self.moveSection(moves.flatMap { $0 }))
        if mixed {
            report["moves_ms_longpoll"] = .section(Self.moveSection(zip(moves, isLongPoll).filter(\.1).flatMap(\.0)))
        }
        report["closes"] = .section(tally.snapshot.closeSection(startedAt: startedAt))
        var errors = ReportSection()
        errors["http"] = .counts(tally.snapshot.httpErrors)
        errors["connect"] = .counts(tally.snapshot.connectErrors)
        report["errors"] = .section(errors)
        report["received"] = .int(records.reduce(0) { $0 + $1.snapshot.received })
        if !views.isEmpty {
            report["presence"] = .section(await presenceCheck.section())
        }
        if publisherCount > 0 {
            report["published"] = .section(publishing.summary)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        BenchOutput.report(report, json: options.json)

        await ConnectionRamp.closeAll(clients)
        await publishing.close()
        return final.allJoined && clients.count == requested && presenceCheck.allExact
    }

    /// Where the moved clients' gaps went: the silence before the close,
    /// the reconnect, and the wait for the first message after it.
    static func moveSection(_ moves: [WatchedClient.Move]) -> ReportSection {
        func part(_ nanoseconds: (WatchedClient.Move) -> UInt64) -> ReportValue {
            .section(percentiles(moves.map { Double(nanoseconds($0)) / 1e6 }.sorted(), decimals: 1))
        }
        var section = ReportSection()
        section["count"] = .int(moves.count)
        section["silence_before_close"] = part(\.beforeClose)
        section["close_to_open"] = part(\.closeToOpen)
        section["open_to_message"] = part(\.openToMessage)
        return section
    }

    /// p50, p99 and max of sorted values.
    static func percentiles(_ sorted: [Double], decimals: Int) -> ReportSection {
        var section = ReportSection()
        func percentile(_ p: Double) -> Double? {
            guard !sorted.isEmpty else { return nil }
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(sorted.count - 1, max(0, rank))]
        }
        section["p50"] = .measured(percentile(50), decimals: decimals)
        section["p99"] = .measured(percentile(99), decimals: decimals)
        section["max"] = .measured(sorted.last, decimals: decimals)
        return section
    }
}

/// SIGTERM and SIGINT end a watch early (the report is still printed).
enum WatchSignals {
    static var stopRequested: Bool { watchStopRequested.load(ordering: .relaxed) }

    static func install() {
        signal(SIGTERM) { _ in watchStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in watchStopRequested.store(true, ordering: .relaxed) }
    }
}
