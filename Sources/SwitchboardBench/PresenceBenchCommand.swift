import ArgumentParser
import NIOCore
import Synchronization
import Switchboard
import SwitchboardClient

/// `switchboard bench presence`: a room that many join at once, with presence.
struct PresenceBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presence",
        abstract: "Clients join one presence topic at --connect-rate per second, spread over --port and --more-ports; every client's list must end complete.",
        discussion: """
            Each connection has its own key (`user_id=u<number>`, unless --param says otherwise) and \
            keeps the set of keys its `presence_state` and `presence_diff`s list (phoenix.js's sync \
            rules; diffs before the state are ignored). Reports the join rate and latency, \
            presence_diff frames per client per second (the busiest second of the busiest client, \
            and the 99th percentile over clients), how long after the last join every list was \
            complete, and with --server-pids the nodes' CPU per join and RSS growth per client. \
            The servers need presence on the topic (`serve --presence`, `room:*`). \
            Default: 1,000 clients on room:presence, joining at --connect-rate.
            """
    )

    @OptionGroup var options: BenchOptions

    @Option(help: ArgumentHelp("Comma-separated pids of the nodes: their CPU time and RSS are read at the start and end.", valueName: "pids"))
    var serverPids: String?

    @Option(help: "Seconds to wait, after the last join, for every list to be complete.")
    var settle: Double = 30

    mutating func validate() throws {
        guard self.settle > 0 && self.settle <= 600 else { throw ValidationError("--settle must be > 0 and at most 600 s") }
        for pid in self.pids where ServerSample.read(pid: pid) == nil {
            throw ValidationError("--server-pids: cannot read /proc/\(pid)/stat and status")
        }
    }

    private var pids: [Int32] {
        (self.serverPids ?? "").split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces)) ?? -1 }
    }

    func run() async throws {
        var options = self.options
        if options.params.isEmpty { options.params = ["user_id=u{index}"] }
        if options.topic == "room:bench" { options.topic = "room:presence" }
        if options.connections == nil { options.connections = 1000 }
        let count = options.connections!
        try await BenchEnvironment.run(options: options, sockets: count) { await self.execute($0, count: count) }
    }

    private func execute(_ environment: BenchEnvironment, count: Int) async -> Bool {
        let options = environment.options
        let views = (0..<count).map { _ in PresenceView(capacity: count) }
        var report = environment.header(mode: "presence", extra: [
            ("nodes", .int(options.ports.count)),
            ("joins_per_s", .measured(options.connectRate, decimals: 1)),
        ])

        let pids = self.pids
        let serverStart = pids.compactMap(ServerSample.read(pid:))
        let window = MeasureWindow.begin(serverPid: nil)
        let ramp = ConnectionRamp(options: options, loops: environment.stats.loops, topic: { _ in options.topic }) { index, _, channel in
            let view = views[index]
            _ = channel.on("presence_state") { view.state($0.payload) }
            _ = channel.on("presence_diff") { view.diff($0.payload) }
        }
        let outcome = await ramp.open(count: count)
        let rampEnded = MonotonicClock.now()
        let joined = Set(outcome.connections.map(\.index))
        let expected = PresenceView.Keys(indices: joined, capacity: count)

        // Every list complete, or the settle time is up. Servers without
        // presence on the topic sent no presence_state: nothing to wait for.
        let anyState = outcome.connections.contains { views[$0.index].hasState }
        let deadline = rampEnded + (anyState ? UInt64(self.settle * 1e9) : 0)
        var complete = 0
        while true {
            complete = outcome.connections.count { views[$0.index].matches(expected) }
            if complete == outcome.connections.count || MonotonicClock.now() >= deadline { break }
            BenchOutput.progress("[settle] lists complete \(complete)/\(outcome.connections.count)")
            try? await Task.sleep(for: .milliseconds(100))
        }
        let settled = MonotonicClock.now()
        let measured = window.end()
        let serverEnd = pids.compactMap(ServerSample.read(pid:))

        report["ramp"] = .section(BenchEnvironment.rampSection(outcome, requested: count))
        var lists = ReportSection()
        lists["clients_complete"] = .int(complete)
        lists["clients_incomplete"] = .int(outcome.connections.count - complete)
        lists["complete_after_last_join_ms"] = .measured(complete == outcome.connections.count ? MonotonicClock.seconds(from: rampEnded, to: settled) * 1000 : nil, decimals: 0)
        let summaries = outcome.connections.map { views[$0.index].summary() }
        let busiest = summaries.map(\.busiestSecond).sorted()
        lists["diffs_per_client_per_s_max"] = .int(busiest.last ?? 0)
        lists["diffs_per_client_per_s_p99"] = .int(busiest.isEmpty ? 0 : busiest[(busiest.count - 1) * 99 / 100])
        lists["diffs_per_client_mean"] = .measured(summaries.isEmpty ? nil : Double(summaries.map(\.diffs).reduce(0, +)) / Double(summaries.count), decimals: 1)
        lists["diffs_before_state"] = .int(summaries.map(\.ignored).reduce(0, +))
        lists["leaves_seen"] = .int(summaries.map(\.leaves).reduce(0, +))
        report["lists"] = .section(lists)
        report["bench"] = .section(measured.benchSection(frames: UInt64(summaries.map(\.diffs).reduce(0, +) + 2 * joined.count)))
        if serverStart.count == pids.count, serverEnd.count == pids.count, !pids.isEmpty {
            let cpu = zip(serverStart, serverEnd).map { Double($1.cpuMicroseconds) - Double($0.cpuMicroseconds) }.reduce(0, +)
            let rss = zip(serverStart, serverEnd).map { Double($1.rssBytes) - Double($0.rssBytes) }.reduce(0, +)
            var server = ReportSection()
            server["cpu_seconds"] = .measured(cpu / 1e6, decimals: 3)
            server["cpu_us_per_join"] = .measured(joined.isEmpty ? nil : cpu / Double(joined.count), decimals: 1)
            server["rss_growth_mib"] = .measured(rss / 1_048_576, decimals: 1)
            server["rss_growth_kib_per_client"] = .measured(joined.isEmpty ? nil : rss / 1024 / Double(joined.count), decimals: 2)
            report["servers"] = .section(server)
        }
        report["machine_load_1m_at_end"] = .measured(MachineLoad.oneMinute(), decimals: 2)
        BenchOutput.report(report, json: options.json)
        await ConnectionRamp.closeAll(outcome.connections)
        return !outcome.connections.isEmpty
    }
}

/// One bench client's view of the room: the keys its `presence_state` and
/// `presence_diff`s list, as bits (a key is `u<number>`), and how many diffs
/// came each second. Keys only, not metas: exact while each key has one
/// meta and nobody leaves, as in this bench (leaves are counted, and
/// reported); `bench watch --presence` keeps metas (``WatchedPresence``).
final class PresenceView: Sendable {
    /// A set of bench keys, one bit per connection number.
    struct Keys: Equatable {
        var words: [UInt64]

        init(capacity: Int) { self.words = Array(repeating: 0, count: (capacity + 63) / 64) }

        init(indices: Set<Int>, capacity: Int) {
            self.init(capacity: capacity)
            for index in indices { self.insert(index) }
        }

        mutating func insert(_ index: Int) { self.words[index / 64] |= 1 << UInt64(index % 64) }
        mutating func remove(_ index: Int) { self.words[index / 64] &= ~(1 << UInt64(index % 64)) }
    }

    struct Summary {
        var diffs: Int
        var busiestSecond: Int
        /// Diffs that came before the state (ignored, as phoenix.js does).
        var ignored: Int
        var leaves: Int
    }

    private struct State {
        var keys: Keys
        var synced = false
        var diffs = 0
        var ignored = 0
        var leaves = 0
        var second: UInt64 = 0
        var inSecond = 0
        var busiestSecond = 0
    }

    private let capacity: Int
    private let current: Mutex<State>

    init(capacity: Int) {
        self.capacity = capacity
        self.current = Mutex(State(keys: Keys(capacity: capacity)))
    }

    func state(_ payload: Payload) {
        guard case .json(let state) = payload, let presences = state.objectValue else { return }
        var keys = Keys(capacity: self.capacity)
        for key in presences.keys { if let index = self.index(key) { keys.insert(index) } }
        self.current.withLock {
            $0.keys = keys
            $0.synced = true
        }
    }

    func diff(_ payload: Payload) {
        guard case .json(let diff) = payload else { return }
        let second = MonotonicClock.now() / 1_000_000_000
        let joins = diff["joins"]?.objectValue?.keys.compactMap(self.index) ?? []
        let leaves = diff["leaves"]?.objectValue?.keys.compactMap(self.index) ?? []
        self.current.withLock { state in
            guard state.synced else {
                state.ignored += 1
                return
            }
            state.diffs += 1
            if second != state.second {
                state.second = second
                state.inSecond = 0
            }
            state.inSecond += 1
            state.busiestSecond = max(state.busiestSecond, state.inSecond)
            state.leaves += leaves.count
            // Each bench key has one meta: a key both left and joined in one
            // diff (a rejoin) stays.
            for index in leaves where !joins.contains(index) { state.keys.remove(index) }
            for index in joins { state.keys.insert(index) }
        }
    }

    /// Whether a `presence_state` came.
    var hasState: Bool {
        self.current.withLock { $0.synced }
    }

    func matches(_ expected: Keys) -> Bool {
        self.current.withLock { $0.keys == expected }
    }

    func summary() -> Summary {
        self.current.withLock { Summary(diffs: $0.diffs, busiestSecond: $0.busiestSecond, ignored: $0.ignored, leaves: $0.leaves) }
    }

    private func index(_ key: String) -> Int? {
        BenchKey.index(key, below: self.capacity)
    }
}

/// The bench's presence keys: `u<connection number>`.
enum BenchKey {
    /// `u123` → 123; `nil` for other keys and numbers not below `limit`.
    static func index(_ key: String, below limit: Int = .max) -> Int? {
        guard key.first == "u", let index = Int(key.dropFirst()), index >= 0, index < limit else { return nil }
        return index
    }
}
