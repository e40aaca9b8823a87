#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import NIOCore
import Switchboard
import SwitchboardTesting
import SwitchboardClient
import SwitchboardRedis

/// `switchboard bench redis`: the Redis adapter's figures, on loopback.
///
/// 1. Publish throughput of one node through the adapter (pipelined, the
///    count acknowledged by Redis), spread round-robin over `--topics`
///    topics, with the CPU time Redis and the bench itself spent per
///    message; next to `redis-benchmark -P 32` publishing the same number of
///    messages of the same size on the same Redis (one run per master of a
///    cluster, at once, with `SPUBLISH`).
/// 2. Cross-node latency: node A broadcasts at a fixed rate; a Phoenix client
///    of node B timestamps each frame as it reads it.
///
/// Without `--redis-url` it starts a private `redis-server` on a free
/// loopback port (persistence off), or with `--cluster N` a private Redis
/// Cluster of N masters, and stops it at the end. Bounded in time and count;
/// loopback only.
struct RedisBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Measure the Redis adapter: publish throughput vs redis-benchmark, and cross-node latency.",
        discussion: """
            Starts its own redis-server on a free loopback port, or with --cluster N its own \
            Redis Cluster of N masters without replicas, unless --redis-url is given (then that \
            Redis, redis:// or redis+cluster://, must be on this machine and is not flushed). \
            The throughput run spreads its messages round-robin over --topics topics (with a \
            cluster, over its shards: the topics each master serves are printed) and reports \
            the CPU time per message of the redis-server processes (not for --redis-url) and \
            of the bench process, the publishing node. redis-benchmark publishes the same \
            messages: PUBLISH on a single Redis, SPUBLISH on every master at once on a \
            cluster (the sum of their rates). Needs redis-server, redis-cli and \
            redis-benchmark (Debian: redis-server, redis-tools).

            Example: switchboard bench redis --cluster 3 --topics 64
            """
    )

    @Option(help: ArgumentHelp("Redis to use, on loopback: redis:// or redis+cluster:// (default: start a private redis-server).", valueName: "url"))
    var redisUrl: String?

    @Option(help: "Masters of a private Redis Cluster to start instead of a single redis-server (0: a single redis-server; 1 to 8).")
    var cluster = 0

    @Option(help: "Topics the throughput run spreads its messages over, round-robin (1 to 4096).")
    var topics = 1

    @Option(help: "Messages for the throughput run (1,000 to 10,000,000).")
    var messages = 1_000_000

    @Option(help: "Publisher connections of the publishing node.")
    var publishers = 1

    @Option(help: "Throughput rounds, each the adapter then redis-benchmark; medians and bests are reported (1 to 10).")
    var rounds = 3

    @Option(help: ArgumentHelp("The adapter's publish coalescing, in microseconds (see RedisAdapterConfiguration.publishCoalescing).", visibility: .hidden))
    var coalescingMicroseconds: Int?

    @Option(help: "Broadcasts per second for the latency run.")
    var rate = 10_000

    @Option(help: "Seconds of the latency run, after one second of warm-up (1 to 60).")
    var duration = 5

    @Flag(help: "Skip the throughput run.")
    var skipThroughput = false

    @Flag(help: "Skip the latency run.")
    var skipLatency = false

    func validate() throws {
        guard (1_000...10_000_000).contains(messages) else { throw ValidationError("--messages must be from 1000 to 10000000") }
        guard (1...64).contains(publishers) else { throw ValidationError("--publishers must be from 1 to 64") }
        guard (1...100_000).contains(rate) else { throw ValidationError("--rate must be from 1 to 100000") }
        guard (1...60).contains(duration) else { throw ValidationError("--duration must be from 1 to 60") }
        guard (1...10).contains(rounds) else { throw ValidationError("--rounds must be from 1 to 10") }
        guard (0...8).contains(cluster) else { throw ValidationError("--cluster must be from 0 to 8") }
        guard (1...4096).contains(topics) else { throw ValidationError("--topics must be from 1 to 4096") }
        if let redisUrl {
            guard cluster == 0 else { throw ValidationError("--cluster starts its own cluster: give it or --redis-url, not both") }
            let url = try RedisURL(redisUrl)
            guard url.sentinel == nil else { throw ValidationError("--redis-url must be redis:// or redis+cluster://") }
            let hosts = url.cluster?.map(\.host) ?? [url.host]
            guard hosts.allSatisfy(["127.0.0.1", "localhost", "::1"].contains) else {
                throw ValidationError("--redis-url must point at this machine (127.0.0.1, localhost or ::1)")
            }
        }
    }

    func run() async throws {
        let server = try await BenchRedis.start(url: redisUrl, clusterMasters: cluster)
        defer { server.stop() }
        let shape = server.isCluster ? "cluster of \(server.masters.count) master(s)" : "single instance"
        print("redis bench: \(server.url), \(shape), \(server.version), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        if !skipThroughput {
            try await measureThroughput(server: server)
        }
        if !skipLatency {
            try await measureLatency(url: server.url)
        }
    }

    // MARK: - Throughput

    private func measureThroughput(server: BenchRedis) async throws {
        let payload: JSONValue = ["text": "hello from the redis bench", "n": 12345]
        let topicMessages = (0..<topics).map { Self.message(topic: Self.topic($0), payload: payload) }
        let envelopeSize = RedisAdapter.envelopeSize(of: topicMessages[0])
        print("")
        print("publish throughput: one node, \(publishers) publisher connection(s), \(envelopeSize)-byte envelopes, no subscribers, \(messages) messages a run over \(topics) topic(s)")
        if server.isCluster {
            let counts = server.masters.map { master in (0..<topics).count { master.serves(channel: Self.channel(ofTopic: Self.topic($0))) } }
            let perMaster = zip(server.masters, counts).map { "127.0.0.1:\($0.port) \($1)" }.joined(separator: ", ")
            print("  topics per master \(perMaster)")
        }
        // One channel per master for redis-benchmark, from the topics' own names.
        let benchmarkChannels = server.masters.map { master in
            (0...).lazy.map { Self.channel(ofTopic: Self.topic($0)) }.first { master.serves(channel: $0) }!
        }
        let command = server.isCluster ? "SPUBLISH" : "PUBLISH"
        var runs: [ThroughputRun] = []
        var benchmarkRates: [Double] = []
        for round in 1...rounds {
            let run = try await adapterThroughput(url: server.url, messages: topicMessages, redisPIDs: server.pids)
            runs.append(run)
            var line = "  round \(round): adapter \(Self.format(run.rate)) publishes/s (\(run.statistics.acknowledged) acknowledged, \(run.statistics.dropped) dropped), CPU per message"
            if let redis = run.redisMicroseconds { line += " redis \(Self.format(redis, decimals: 2)) µs," }
            line += " bench \(Self.format(run.benchMicroseconds, decimals: 2)) µs"
            if let benchmark = BenchRedis.redisBenchmark(
                ports: server.masters.map(\.port), password: server.url.password, messages: messages,
                command: command, channels: benchmarkChannels, size: envelopeSize
            ) {
                benchmarkRates.append(benchmark)
                line += "; redis-benchmark \(Self.format(benchmark)) publishes/s"
            }
            print(line)
        }
        let adapterRates = runs.map(\.rate)
        let adapterMedian = Self.median(adapterRates)
        print("  adapter           median \(Self.format(adapterMedian)), best \(Self.format(adapterRates.max()!)) publishes/s")
        var cpu = "  CPU per message   medians:"
        let redisFigures = runs.compactMap(\.redisMicroseconds)
        if !redisFigures.isEmpty {
            cpu += " redis \(Self.format(Self.median(redisFigures), decimals: 2)) µs (sum over \(server.masters.count) redis-server(s)),"
        }
        cpu += " bench process \(Self.format(Self.median(runs.map(\.benchMicroseconds)), decimals: 2)) µs"
        print(cpu)
        guard !benchmarkRates.isEmpty else {
            print("  redis-benchmark   not run (redis-benchmark not found, apt-get install redis-tools, or it printed no \(command) figure)")
            return
        }
        let benchmarkMedian = Self.median(benchmarkRates)
        let how = server.isCluster
            ? "one run per master at once, rates summed, each -P 32, 50 clients, SPUBLISH of \(envelopeSize) bytes to a channel of that master"
            : "-P 32, 50 clients, PUBLISH of \(envelopeSize) bytes to the same channel"
        print("  redis-benchmark   median \(Self.format(benchmarkMedian)), best \(Self.format(benchmarkRates.max()!)) publishes/s (\(how))")
        print("  ratio             \(Self.format(100 * adapterMedian / benchmarkMedian)) % of redis-benchmark, medians (target: at least 70 %); best against best \(Self.format(100 * adapterRates.max()! / benchmarkRates.max()!)) %")
    }

    /// One throughput run's figures.
    private struct ThroughputRun {
        /// Publishes acknowledged per second.
        var rate: Double
        var statistics: RedisAdapterStatistics
        /// CPU time of every redis-server per message, in microseconds; `nil` when their pids are unknown.
        var redisMicroseconds: Double?
        /// CPU time of this process per message, in microseconds.
        var benchMicroseconds: Double
    }

    /// One run: `messages` broadcasts through a fresh adapter, round-robin
    /// over `topicMessages`, timed until Redis acknowledged them all.
    private func adapterThroughput(url: RedisURL, messages topicMessages: [PubSubMessage], redisPIDs: [pid_t]?) async throws -> ThroughputRun {
        var configuration = RedisAdapterConfiguration(url: url, nodeName: "bench-publisher")
        configuration.publishers = publishers
        configuration.channelPrefix = Self.channelPrefix
        if let coalescingMicroseconds {
            configuration.publishCoalescing = .microseconds(coalescingMicroseconds)
        }
        let adapter = RedisAdapter(configuration: configuration, logger: Self.quietLogger)
        // As in a cluster whose nodes all read the newest envelope.
        adapter.peersRead(wireVersion: adapter.wireVersion)
        try await adapter.start(deliver: { _ in }, control: { _ in })
        // Keep a bounded window in flight: enough to pipeline, not so many
        // that the adapter's in-flight bound drops any.
        let window = 16_384 * publishers
        let redisBefore = redisPIDs.flatMap(BenchRedis.cpuMicroseconds(of:))
        let benchBefore = CPUUsage.selfMicroseconds()
        let start = ContinuousClock.now
        for index in 0..<messages {
            try await adapter.broadcast(topicMessages[index % topicMessages.count])
            if index % 512 == 511 {
                while true {
                    let statistics = adapter.statistics
                    if statistics.published - statistics.acknowledged < window { break }
                    try await Task.sleep(for: .microseconds(50))
                }
            }
        }
        while true {
            let statistics = adapter.statistics
            if statistics.acknowledged + statistics.publishErrors + statistics.dropped >= messages { break }
            try await Task.sleep(for: .microseconds(200))
        }
        let elapsed = ContinuousClock.now - start
        let benchMicroseconds = Double(CPUUsage.selfMicroseconds() - benchBefore) / Double(messages)
        var redisMicroseconds: Double?
        if let redisBefore, let redisAfter = redisPIDs.flatMap(BenchRedis.cpuMicroseconds(of:)) {
            redisMicroseconds = Double(redisAfter - redisBefore) / Double(messages)
        }
        let statistics = adapter.statistics
        await adapter.shutdown()
        return ThroughputRun(
            rate: Double(statistics.acknowledged) / elapsed.seconds, statistics: statistics,
            redisMicroseconds: redisMicroseconds, benchMicroseconds: benchMicroseconds
        )
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    // MARK: - Latency

    private func measureLatency(url: RedisURL) async throws {
        var nodes: [SwitchboardServer] = []
        for name in ["bench-a", "bench-b"] {
            var adapterConfiguration = RedisAdapterConfiguration(url: url, nodeName: name)
            adapterConfiguration.channelPrefix = Self.channelPrefix
            if let coalescingMicroseconds {
                adapterConfiguration.publishCoalescing = .microseconds(coalescingMicroseconds)
            }
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.eventLoopThreads = 1
            configuration.shutdownGracePeriod = .milliseconds(200)
            let server = SwitchboardServer(
                configuration: configuration, endpoints: [BuiltIn.endpoint()],
                adapter: RedisAdapter(configuration: adapterConfiguration, logger: Self.quietLogger), logger: Self.quietLogger
            )
            try await server.start()
            nodes.append(server)
        }
        let client = PhoenixClient(configuration: .init(
            host: "127.0.0.1", port: nodes[1].localPort!, params: ["user_id": "bench"], heartbeatInterval: nil, recordsMessages: false
        ))
        try await client.connect()
        let room = client.channel("room:latency")
        let samples = LatencySamples()
        room.on("tick") { message in
            let now = BenchRedis.nanoseconds()
            guard case .json(let payload) = message.payload, let sent = payload["t"]?.intValue else { return }
            samples.record(now - UInt64(sent))
        }
        _ = try await room.join()

        let pubsub = nodes[0].pubsub
        let perTick = max(1, rate / 1_000)
        let tick = Duration.nanoseconds(1_000_000_000 * perTick / rate)
        let warmUp = ContinuousClock.now + .seconds(1)
        let end = warmUp + .seconds(duration)
        var next = ContinuousClock.now
        var sent = 0
        while ContinuousClock.now < end {
            if ContinuousClock.now >= warmUp, !samples.isRecording {
                samples.startRecording()
                sent = 0
            }
            for _ in 0..<perTick {
                try await pubsub.broadcast(topic: "room:latency", event: "tick", payload: .json(["t": .int(Int(BenchRedis.nanoseconds()))]))
                sent += 1
            }
            next += tick
            try await Task.sleep(until: next, tolerance: .microseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))
        samples.stopRecording()
        await client.disconnect()
        for node in nodes { await node.shutdown() }

        let sorted = samples.sorted()
        print("")
        print("cross-node latency: broadcast on node A → frame read by a client of node B, \(rate) broadcasts/s for \(duration) s (after 1 s warm-up)")
        guard !sorted.isEmpty else {
            print("  no samples")
            return
        }
        func percentile(_ p: Double) -> String {
            let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
            return Self.format(Double(sorted[max(0, index)]) / 1e6, decimals: 3) + " ms"
        }
        print("  received          \(sorted.count) of \(sent) sent")
        print("  p50 \(percentile(50))   p90 \(percentile(90))   p99 \(percentile(99))   p99.9 \(percentile(99.9))   max \(percentile(100))   (target: p99 at most 2 ms)")
    }

    // MARK: - Helpers

    /// The prefix of the bench's Redis channels.
    private static let channelPrefix = "switchboard-bench"

    /// The throughput run's topic number `index`.
    private static func topic(_ index: Int) -> String {
        "room:bench:\(index)"
    }

    /// The Redis channel the adapter publishes `topic` on (per-topic mode).
    private static func channel(ofTopic topic: String) -> String {
        "\(channelPrefix):t:\(topic)"
    }

    /// A broadcast as the core makes it: the V2 message `[null,null,topic,event,payload]` serialized once, no transport framing.
    private static func message(topic: String, payload: JSONValue) -> PubSubMessage {
        var text = ByteBuffer(string: "[null,null,")
        JSONValue.string(topic).encode(into: &text)
        text.writeString(",\"bench\",")
        payload.encode(into: &text)
        text.writeString("]")
        return PubSubMessage(topic: topic, event: "bench", payload: .json(payload), originNode: "bench-publisher", encoded: text)
    }

    private static var quietLogger: Logger {
        var logger = Logger(label: "switchboard.bench.redis")
        logger.logLevel = .error
        return logger
    }

    private static func format(_ value: Double, decimals: Int = 0) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

/// Latency samples in nanoseconds, recorded on the client's event loop.
private final class LatencySamples: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [UInt64] = []
    private var recording = false

    var isRecording: Bool { lock.withLock { recording } }

    func startRecording() {
        lock.withLock {
            values.reserveCapacity(1 << 20)
            recording = true
        }
    }

    func stopRecording() {
        lock.withLock { recording = false }
    }

    func record(_ nanoseconds: UInt64) {
        lock.withLock {
            if recording, values.count < 10_000_000 { values.append(nanoseconds) }
        }
    }

    func sorted() -> [UInt64] {
        lock.withLock { values.sorted() }
    }
}

/// The Redis the bench runs against: its own redis-server or Redis Cluster,
/// or the one given.
private final class BenchRedis: @unchecked Sendable {
    let url: RedisURL
    let version: String
    /// The masters and their slots: the one server of a single instance,
    /// serving every slot.
    let masters: [Master]
    /// The servers the bench started; stopped by ``stop()``.
    private let processes: [ChildProcess]
    /// The cluster's temporary directory (its `nodes-<port>.conf`); removed by ``stop()``.
    private let directory: URL?

    var isCluster: Bool { url.cluster != nil }

    /// The pids of every redis-server, when the bench started them.
    var pids: [pid_t]? { processes.isEmpty ? nil : processes.map(\.pid) }

    /// A master of the cluster (or the single instance) and the slots it serves.
    struct Master {
        var port: Int
        var slots: [ClosedRange<Int>]

        /// Whether a message published on `channel` goes to this master.
        func serves(channel: String) -> Bool {
            let slot = RedisClusterSlot.of(channel)
            return slots.contains { $0.contains(slot) }
        }
    }

    private init(url: RedisURL, version: String, masters: [Master], processes: [ChildProcess] = [], directory: URL? = nil) {
        self.url = url
        self.version = version
        self.masters = masters
        self.processes = processes
        self.directory = directory
    }

    /// The Redis at `given`, or a private one: a single redis-server when
    /// `clusterMasters` is 0, else a cluster of that many masters.
    static func start(url given: String?, clusterMasters: Int) async throws -> BenchRedis {
        if let given {
            let url = try RedisURL(given)
            let masters = url.cluster == nil ? [Master(port: url.port, slots: [0...RedisClusterSlot.count - 1])] : try masters(of: url)
            return BenchRedis(url: url, version: "external redis", masters: masters)
        }
        let executable = try require("redis-server", package: "redis-server")
        let version = run(executable, ["--version"]).split(separator: " ").prefix(3).joined(separator: " ")
        guard clusterMasters > 0 else {
            let port = try freePort()
            let process = try await startServer(executable, port: port)
            return BenchRedis(url: RedisURL(port: port), version: version, masters: [Master(port: port, slots: [0...RedisClusterSlot.count - 1])], processes: [process])
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-bench-cluster-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var processes: [ChildProcess] = []
        do {
            var ports: [Int] = []
            for _ in 0..<clusterMasters {
                let port = try clusterPort()
                processes.append(try await startServer(executable, port: port, arguments: [
                    "--cluster-enabled", "yes", "--cluster-config-file", directory.appendingPathComponent("nodes-\(port).conf").path,
                    "--dir", directory.path,
                ]))
                ports.append(port)
            }
            let url = try RedisURL("redis+cluster://" + ports.map { "127.0.0.1:\($0)" }.joined(separator: ","))
            try await formCluster(url: url, ports: ports)
            return BenchRedis(url: url, version: version, masters: try masters(of: url), processes: processes, directory: directory)
        } catch {
            stop(processes, directory: directory)
            throw error
        }
    }

    /// Kills the private servers (SIGKILL: they hold nothing worth a graceful
    /// stop) and removes the cluster's directory.
    func stop() {
        Self.stop(processes, directory: directory)
    }

    private static func stop(_ processes: [ChildProcess], directory: URL?) {
        for process in processes where process.kill() {
            process.waitUntilExit()
        }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Starts redis-server on `port` (loopback, persistence off) and waits until it accepts connections.
    private static func startServer(_ executable: String, port: Int, arguments: [String] = []) async throws -> ChildProcess {
        let process = try ChildProcess(
            executable: executable,
            arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"] + arguments,
            standardOutput: .nullDevice, standardError: .nullDevice
        )
        let deadline = ContinuousClock.now + .seconds(10)
        while !canConnect(port: port) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                if process.kill() { process.waitUntilExit() }
                throw ValidationError("redis-server did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process
    }

    /// Makes the nodes at `ports` one cluster: node i serves the i-th
    /// equal share of the slots (`CLUSTER ADDSLOTSRANGE`: `redis-cli
    /// --cluster create` refuses fewer than three masters) and meets the
    /// first; then waits (at most 20 s) until every node says
    /// `cluster_state:ok` and knows every other.
    private static func formCluster(url: RedisURL, ports: [Int]) async throws {
        for (index, port) in ports.enumerated() {
            let first = RedisClusterSlot.count * index / ports.count
            let last = RedisClusterSlot.count * (index + 1) / ports.count - 1
            let added = try cli(url, port: port, ["CLUSTER", "ADDSLOTSRANGE", "\(first)", "\(last)"])
            let met = index == 0 ? "OK" : try cli(url, port: port, ["CLUSTER", "MEET", "127.0.0.1", "\(ports[0])"])
            guard added.hasPrefix("OK"), met.hasPrefix("OK") else {
                throw ValidationError("cannot make a cluster: node \(port) answered \(added.prefix(200)) \(met.prefix(200))")
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            var ready = true
            for port in ports where ready {
                let known = try cli(url, port: port, ["CLUSTER", "NODES"]).split(separator: "\n").filter { !$0.contains("handshake") }.count
                ready = try cli(url, port: port, ["CLUSTER", "INFO"]).contains("cluster_state:ok") && known == ports.count
            }
            if ready { return }
            guard ContinuousClock.now < deadline else { throw ValidationError("the cluster on ports \(ports) was not ready within 20 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The masters of the cluster at `url` and their slots, from `CLUSTER
    /// NODES` (`id host:port@bus flags master-id … slot-ranges`) as the
    /// first seed sees it, in port order.
    private static func masters(of url: RedisURL) throws -> [Master] {
        let text = try cli(url, port: url.port, ["CLUSTER", "NODES"])
        let masters = text.split(separator: "\n").compactMap { line -> Master? in
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[2].contains("master"), !fields[2].contains("fail"),
                  let port = fields[1].split(separator: "@").first?.split(separator: ":").last.flatMap({ Int($0) })
            else { return nil }
            // `[slot->-id]` entries are migrations under way: not served yet.
            let slots = fields.dropFirst(8).filter { !$0.hasPrefix("[") }.compactMap { range -> ClosedRange<Int>? in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                return bounds.isEmpty ? nil : bounds[0]...bounds[bounds.count - 1]
            }
            return slots.isEmpty ? nil : Master(port: port, slots: slots)
        }
        guard !masters.isEmpty else { throw ValidationError("\(url) has no master serving slots: \(text.prefix(300))") }
        return masters.sorted { $0.port < $1.port }
    }

    /// `redis-cli` on the node at `port`, with `url`'s credentials; its output.
    private static func cli(_ url: RedisURL, port: Int, _ command: [String]) throws -> String {
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)"]
        if let username = url.username { arguments += ["--user", username] }
        if let password = url.password { arguments += ["-a", password, "--no-auth-warning"] }
        return run(try require("redis-cli", package: "redis-tools"), arguments + command)
    }

    /// CPU time (user + system) of the processes `pids` together, in
    /// microseconds; `nil` when one cannot be read.
    static func cpuMicroseconds(of pids: [pid_t]) -> UInt64? {
        var total: UInt64 = 0
        for pid in pids {
            guard let sample = ServerSample.read(pid: pid) else { return nil }
            total += sample.cpuMicroseconds
        }
        return total
    }

    /// `redis-benchmark -P 32 -c 50` publishing `messages` messages of `size`
    /// bytes with `command`: one run per port, at once, each with
    /// `messages / ports.count` messages on its own channel of `channels`;
    /// the sum of their publishes per second. `nil` when redis-benchmark is
    /// missing or a run printed no figure.
    static func redisBenchmark(ports: [Int], password: String?, messages: Int, command: String, channels: [String], size: Int) -> Double? {
        guard let executable = which("redis-benchmark") else { return nil }
        let payload = String(repeating: "x", count: size)
        let runs = zip(ports, channels).map { port, channel in
            var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-P", "32", "-c", "50", "-n", "\(messages / ports.count)", "--csv"]
            if let password { arguments += ["-a", password] }
            return try? ChildProcess(
                executable: executable, arguments: arguments + [command, channel, payload], standardOutput: .pipe, standardError: .nullDevice
            )
        }
        var total = 0.0
        var complete = true
        for run in runs {
            guard let run else {
                complete = false
                continue
            }
            let output = String(decoding: (try? run.standardOutput!.readToEnd()) ?? [], as: UTF8.self)
            run.waitUntilExit()
            // "test","rps",… then "PUBLISH …","612345.00",…
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("\"\(command)") }),
                  let rate = line.split(separator: ",").dropFirst().first.flatMap({ Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) })
            else {
                complete = false
                continue
            }
            total += rate
        }
        return complete ? total : nil
    }

    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// The path of `name`, or an error saying which package to install.
    private static func require(_ name: String, package: String) throws -> String {
        guard let path = which(name) else {
            throw ValidationError("\(name) not found; install it (apt-get install \(package)) or pass --redis-url")
        }
        return path
    }

    private static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map(String.init) + ["/usr/bin"])
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func run(_ executable: String, _ arguments: [String]) -> String {
        guard let process = try? ChildProcess(executable: executable, arguments: arguments, standardOutput: .pipe, standardError: .nullDevice)
        else { return "" }
        let data = (try? process.standardOutput!.readToEnd()) ?? []
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private static func freePort() throws -> Int {
        guard let port = LoopbackPort.free() else { throw ValidationError("cannot find a free loopback port") }
        return port
    }

    /// A free loopback port whose cluster bus port (10000 above) is free
    /// too, both below the ephemeral range, where other sockets get theirs.
    private static func clusterPort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 11_000...22_000)
            if !canConnect(port: port), !canConnect(port: port + 10_000) { return port }
        }
        throw ValidationError("cannot find a free port pair for a cluster node")
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                connect(fd, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
