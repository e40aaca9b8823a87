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
///    count acknowledged by Redis), next to `redis-benchmark -P 32` publishing
///    the same number of messages of the same size to the same channel on the
///    same Redis.
/// 2. Cross-node latency: node A broadcasts at a fixed rate; a Phoenix client
///    of node B timestamps each frame as it reads it.
///
/// Without `--redis-url` it starts a private `redis-server` on a free
/// loopback port (persistence off) and stops it at the end. Bounded in time
/// and count; loopback only.
struct RedisBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Measure the Redis adapter: publish throughput vs redis-benchmark, and cross-node latency.",
        discussion: """
            Starts its own redis-server on a free loopback port unless --redis-url is given \
            (then that Redis must be on this machine and is not flushed). Needs redis-server \
            and redis-benchmark (Debian: redis-server, redis-tools).
            """
    )

    @Option(help: ArgumentHelp("Redis to use, on loopback (default: start a private redis-server).", valueName: "url"))
    var redisUrl: String?

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
        if let redisUrl {
            let url = try RedisURL(redisUrl)
            guard ["127.0.0.1", "localhost", "::1"].contains(url.host) else {
                throw ValidationError("--redis-url must point at this machine (127.0.0.1, localhost or ::1)")
            }
        }
    }

    func run() async throws {
        let server = try await BenchRedis.start(url: redisUrl)
        defer { server.stop() }
        print("redis bench: \(server.url), \(server.version), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        if !skipThroughput {
            try await measureThroughput(url: server.url, port: server.port)
        }
        if !skipLatency {
            try await measureLatency(url: server.url)
        }
    }

    // MARK: - Throughput

    private func measureThroughput(url: RedisURL, port: Int) async throws {
        let message = Self.message(topic: "room:bench", payload: ["text": "hello from the redis bench", "n": 12345])
        let envelopeSize = RedisAdapter.envelopeSize(of: message)
        let channel = "switchboard-bench:t:room:bench"
        print("")
        print("publish throughput: one node, \(publishers) publisher connection(s), \(envelopeSize)-byte envelopes, no subscribers, \(messages) messages a run")
        var adapterRates: [Double] = []
        var benchmarkRates: [Double] = []
        for round in 1...rounds {
            let (rate, statistics) = try await adapterThroughput(url: url, message: message)
            adapterRates.append(rate)
            var line = "  round \(round): adapter \(Self.format(rate)) publishes/s (\(statistics.acknowledged) acknowledged, \(statistics.dropped) dropped)"
            if let benchmark = BenchRedis.redisBenchmark(port: port, password: url.password, messages: messages, channel: channel, size: envelopeSize) {
                benchmarkRates.append(benchmark)
                line += ", redis-benchmark \(Self.format(benchmark)) publishes/s"
            }
            print(line)
        }
        let adapterMedian = Self.median(adapterRates)
        print("  adapter           median \(Self.format(adapterMedian)), best \(Self.format(adapterRates.max()!)) publishes/s")
        guard !benchmarkRates.isEmpty else {
            print("  redis-benchmark   not run (redis-benchmark not found; apt-get install redis-tools)")
            return
        }
        let benchmarkMedian = Self.median(benchmarkRates)
        print("  redis-benchmark   median \(Self.format(benchmarkMedian)), best \(Self.format(benchmarkRates.max()!)) publishes/s (-P 32, 50 clients, PUBLISH of \(envelopeSize) bytes to the same channel)")
        print("  ratio             \(Self.format(100 * adapterMedian / benchmarkMedian)) % of redis-benchmark, medians (target: at least 70 %); best against best \(Self.format(100 * adapterRates.max()! / benchmarkRates.max()!)) %")
    }

    /// One run: `messages` broadcasts through a fresh adapter, timed until Redis acknowledged them all.
    private func adapterThroughput(url: RedisURL, message: PubSubMessage) async throws -> (Double, RedisAdapterStatistics) {
        var configuration = RedisAdapterConfiguration(url: url, nodeName: "bench-publisher")
        configuration.publishers = publishers
        configuration.channelPrefix = "switchboard-bench"
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
        let start = ContinuousClock.now
        for index in 0..<messages {
            try await adapter.broadcast(message)
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
        let statistics = adapter.statistics
        await adapter.shutdown()
        return (Double(statistics.acknowledged) / elapsed.seconds, statistics)
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
            adapterConfiguration.channelPrefix = "switchboard-bench"
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

/// The Redis the bench runs against: its own redis-server, or the one given.
private final class BenchRedis: @unchecked Sendable {
    let url: RedisURL
    let version: String
    private let process: ChildProcess?

    var port: Int { url.port }

    private init(url: RedisURL, version: String, process: ChildProcess?) {
        self.url = url
        self.version = version
        self.process = process
    }

    static func start(url given: String?) async throws -> BenchRedis {
        if let given {
            return BenchRedis(url: try RedisURL(given), version: "external redis", process: nil)
        }
        guard let executable = which("redis-server") else {
            throw ValidationError("redis-server not found; install it (apt-get install redis-server) or pass --redis-url")
        }
        let port = try freePort()
        let process = try ChildProcess(
            executable: executable,
            arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            standardOutput: .nullDevice, standardError: .nullDevice
        )
        let url = RedisURL(port: port)
        let deadline = ContinuousClock.now + .seconds(10)
        while !canConnect(port: port) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                process.kill()
                throw ValidationError("redis-server did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return BenchRedis(url: url, version: run(executable, ["--version"]).split(separator: " ").prefix(3).joined(separator: " "), process: process)
    }

    /// Kills the private server (SIGKILL: it holds nothing worth a graceful stop).
    func stop() {
        guard let process, process.kill() else { return }
        process.waitUntilExit()
    }

    /// `redis-benchmark -P 32` publishing `messages` messages of `size` bytes to `channel`; publishes per second.
    static func redisBenchmark(port: Int, password: String?, messages: Int, channel: String, size: Int) -> Double? {
        guard let executable = which("redis-benchmark") else { return nil }
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-P", "32", "-n", "\(messages)", "--csv"]
        if let password { arguments += ["-a", password] }
        arguments += ["PUBLISH", channel, String(repeating: "x", count: size)]
        let output = run(executable, arguments)
        // "test","rps",… then "PUBLISH …","612345.00",…
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("\"PUBLISH") }) else { return nil }
        let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        return fields.count > 1 ? Double(fields[1]) : nil
    }

    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
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
