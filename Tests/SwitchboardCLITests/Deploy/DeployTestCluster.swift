#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Switchboard
import Testing
@testable import SwitchboardTesting

/// The deploy test's world under `.build/deploy-tests/<id>`: redis-server,
/// haproxy (root haproxy.cfg, ports and paths from SWITCHBOARD_* variables),
/// an inventory of blue1…3 and green1…3 on free loopback ports, release
/// tarballs packed from the release build, and the deploy scripts run
/// against them. Everything it starts is killed by ``tearDown()``.
final class DeployTestCluster: @unchecked Sendable {
    /// Set by scripts/test: the release-built executable the test packs and runs.
    static let binaryVariable = "SWITCHBOARD_RELEASE_BINARY"
    static let adminToken = "deploy-test-admin-token-0123456789"
    /// The instances' key for `POST /api/broadcast`.
    static let apiKey = "deploy-test-api-key-0123456789"
    static let instanceNames = ["blue1", "blue2", "blue3", "green1", "green2", "green3"]

    let binary: String
    /// This cluster's instances (``instanceNames`` unless given).
    let names: [String]
    let directory: URL
    /// The instances track presence in their `room:*` channels, and the
    /// watching clients keep their rooms' lists (`bench watch --presence`).
    let presence: Bool
    let httpPort: Int
    let statsPort: Int
    let redisPort: Int
    var ports: [String: (port: Int, admin: Int)] = [:]
    private var tarballs: [String: String] = [:]
    private var processes: [BackgroundProcess] = []

    var socketPath: String { directory.appendingPathComponent("haproxy.sock").path }
    var mapPath: String { directory.appendingPathComponent("active.map").path }
    var inventoryPath: String { directory.appendingPathComponent("inventory").path }

    private init(binary: String, names: [String], directory: URL, ports: [Int], presence: Bool) {
        self.binary = binary
        self.names = names
        self.directory = directory
        self.presence = presence
        (httpPort, statsPort, redisPort) = (ports[0], ports[1], ports[2])
        for (index, name) in names.enumerated() {
            self.ports[name] = (ports[3 + 2 * index], ports[4 + 2 * index])
        }
    }

    /// Packs the releases, starts redis-server and haproxy, writes the inventory.
    static func start(presence: Bool = false) async throws -> DeployTestCluster {
        guard let binary = ProcessInfo.processInfo.environment[binaryVariable], FileManager.default.isExecutableFile(atPath: binary) else {
            let message = "\(binaryVariable) is not set to a release-built switchboard: run scripts/test (it builds one), or `deploy/release --build-only` and export \(binaryVariable)=<the path it prints>"
            Issue.record(Comment(rawValue: message))
            throw DeployTestError(message)
        }
        return try await start(binary: binary, names: instanceNames, tarballs: nil, presence: presence)
    }

    /// A cluster of `names` running `binary`, from `tarballs` (version → path)
    /// when given, else from the four test releases packed from `binary`.
    static func start(binary: String, names: [String], tarballs: [String: String]?, presence: Bool = false) async throws -> DeployTestCluster {
        let directory = DeployFiles.url(".build/deploy-tests/\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cluster = DeployTestCluster(binary: binary, names: names, directory: directory, ports: try LoopbackPorts.free(3 + 2 * names.count), presence: presence)
        do {
            if let tarballs {
                cluster.tarballs = tarballs
            } else {
                try await cluster.packReleases()
            }
            try await cluster.startRedis()
            try cluster.writeInventory()
            try await cluster.startHAProxy()
        } catch {
            cluster.tearDown()
            throw error
        }
        return cluster
    }

    // MARK: - Setup

    private func packReleases() async throws {
        let dist = directory.appendingPathComponent("dist").path
        let broken = directory.appendingPathComponent("broken-switchboard")
        try """
            #!/bin/sh
            # A release whose server exits at start (it still reports its version).
            if [ "$1" = --version ]; then cat "$(dirname "$0")/../VERSION"; exit 0; fi
            echo "switchboard: this test release refuses to start" >&2
            exit 1

            """.write(to: broken, atomically: true, encoding: .utf8)
        chmod(broken.path, 0o755)
        for (version, executable) in [("e2e-1", binary), ("e2e-2", binary), ("e2e-3", binary), ("e2e-bad", broken.path)] {
            let packed = try await DeployFiles.run(
                DeployFiles.url("deploy/release").path, ["--binary", executable, "--version", version, "--dist", dist], timeout: .seconds(300)
            )
            guard packed.status == 0, let path = packed.stdout.split(separator: "\n").last.map(String.init), path.hasSuffix(".tar.gz") else {
                throw DeployTestError("deploy/release --binary failed for \(version):\n\(packed.stdout)\(packed.stderr)")
            }
            tarballs[version] = path
        }
    }

    private func startRedis() async throws {
        processes.append(try await BackgroundProcess.redisServer(port: redisPort, directory: directory))
    }

    private func writeInventory() throws {
        var inventory = "# name  host  port  admin_port  colour  release_dir\n"
        for name in names {
            let (port, admin) = ports[name]!
            let release = directory.appendingPathComponent("instances/\(name)")
            let shared = release.appendingPathComponent("shared")
            try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
            try """
                SWITCHBOARD_AUTH=none
                SWITCHBOARD_LOG_LEVEL=warning
                SWITCHBOARD_PUBSUB_ADAPTER=redis
                SWITCHBOARD_PUBSUB_REDIS_URL=redis://127.0.0.1:\(redisPort)
                SWITCHBOARD_ADMIN_TOKEN=\(Self.adminToken)
                SWITCHBOARD_API_KEY=\(Self.apiKey)
                SWITCHBOARD_DRAIN_ON_SHUTDOWN=5s
                SWITCHBOARD_PRESENCE=\(presence)

                """.write(to: shared.appendingPathComponent("switchboard.env"), atomically: true, encoding: .utf8)
            inventory += "\(name) 127.0.0.1 \(port) \(admin) \(name.hasPrefix("blue") ? "blue" : "green") \(release.path)\n"
        }
        try inventory.write(toFile: inventoryPath, atomically: true, encoding: .utf8)
        try DeployFiles.text("deploy/haproxy/active.map").write(toFile: mapPath, atomically: true, encoding: .utf8)
    }

    private func startHAProxy() async throws {
        guard let haproxy = DeployFiles.which("haproxy") else {
            throw DeployTestError("haproxy is not installed: run scripts/test (it installs it) or apt-get install haproxy")
        }
        let process = try BackgroundProcess(
            name: "haproxy", haproxy, ["-db", "-f", DeployFiles.url("haproxy.cfg").path],
            environment: [
                "SWITCHBOARD_HTTP_BIND": "127.0.0.1", "SWITCHBOARD_HTTP_PORT": "\(httpPort)",
                "SWITCHBOARD_STATS_PORT": "\(statsPort)", "SWITCHBOARD_HAPROXY_SOCKET": socketPath,
                "SWITCHBOARD_ACTIVE_MAP": mapPath, "SWITCHBOARD_CHECK_INTERVAL": "1s",
                "SWITCHBOARD_HAPROXY_LOG": directory.appendingPathComponent("haproxy.log").path,
            ],
            directory: directory
        )
        processes.append(process)
        try await LoopbackPorts.waitUntilAnswering(httpPort, what: "haproxy (\(process.stderr))")
    }

    // MARK: - Deploys

    func tarball(_ version: String) -> String { tarballs[version]! }

    func names(of colour: String) -> [String] { names.filter { $0.hasPrefix(colour) } }

    /// Runs deploy/<script> with the cluster's settings, changed by
    /// `settings` (a nil value leaves the variable out); its output is echoed.
    func deploy(
        _ script: String, _ arguments: String..., drain: Int = 5, settings: [String: String?] = [:], rebalanceWindow: Int = 10
    ) async throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        let started = ContinuousClock.now
        var environment = [
            "DEPLOY_INVENTORY": inventoryPath, "DEPLOY_MODE": "local",
            "SWITCHBOARD_HAPROXY_SOCKET": socketPath, "SWITCHBOARD_ACTIVE_MAP": mapPath,
            "SWITCHBOARD_ADMIN_TOKEN": Self.adminToken,
            "DEPLOY_DRAIN_WINDOW": "\(drain)s", "DEPLOY_READY_TIMEOUT": "30",
            "DEPLOY_REBALANCE_TOLERANCE": "10%", "DEPLOY_REBALANCE_WINDOW": "\(rebalanceWindow)s",
        ]
        for (key, value) in settings { environment[key] = value }
        let result = try await DeployFiles.run(
            DeployFiles.url("deploy/\(script)").path, arguments, environment: environment, timeout: .seconds(300)
        )
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        print("--- deploy/\(script) \(arguments.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " ")) (exit \(result.status), \(Int(seconds)) s)\n\(result.stdout)\(result.stderr)")
        return (result.status, result.stdout, result.stderr, seconds)
    }

    // MARK: - Clients

    /// Starts `bench watch` through HAProxy and waits until its clients and publishers are in.
    func startWatch(phase: String) async throws -> BackgroundProcess {
        if presence { try await waitUntilRoomsAreEmpty() }
        let watch = try BackgroundProcess(
            name: "watch-\(phase)", binary,
            [
                "bench", "watch", "--port", "\(httpPort)", "--topic", "room:e2e",
                "--connections", "\(DeployEndToEndTests.clients)", "--topics", "\(DeployEndToEndTests.topics)",
                "--longpoll-connections", "\(DeployEndToEndTests.longPollClients)",
                "--publish-rate", "\(DeployEndToEndTests.shoutRate)", "--publishers", "\(DeployEndToEndTests.publishers)",
                "--duration", "600", "--heartbeat", "--threads", "2", "--connect-rate", "1000", "--settle", "15", "--json",
            ] + (presence ? ["--presence"] : []),
            directory: directory
        )
        processes.append(watch)
        let deadline = ContinuousClock.now + .seconds(60)
        while !watch.stderr.contains("publishers joined") {
            guard watch.isRunning, ContinuousClock.now < deadline else {
                throw DeployTestError("bench watch (\(phase)) did not get its clients in:\n\(watch.stderr.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let joined = "\(DeployEndToEndTests.clients) of \(DeployEndToEndTests.clients) clients joined"
        #expect(watch.stderr.contains(joined), "\(phase): \(watch.stderr.suffix(1000))")
        try await Task.sleep(for: .seconds(2))
        return watch
    }

    /// Waits until no room of the watch lists anyone: each watch's clients
    /// are the same users, and one that joined while the last watch's were
    /// still leaving would see them leave, which its check counts as a
    /// member vanishing.
    private func waitUntilRoomsAreEmpty() async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        for topic in 0..<DeployEndToEndTests.topics {
            while true {
                let response = try await PlainHTTP.request(
                    port: httpPort, path: "/api/presence?topic=room:e2e:\(topic)", headers: ["Authorization": "Bearer \(Self.apiKey)"]
                )
                let listed = response.status == 200 ? (try? JSONValue(parsing: response.body))?["presences"]?.objectValue : nil
                if listed?.isEmpty == true { break }
                guard ContinuousClock.now < deadline else {
                    throw DeployTestError("room:e2e:\(topic) still lists the last watch's clients: \(response.status) \(response.body.prefix(500))")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Ends a watch (SIGTERM) and answers its report.
    func finish(_ watch: BackgroundProcess) async throws -> ReportJSON {
        let exited = await watch.stop(signal: SIGTERM, timeout: .seconds(60))
        guard exited, let report = ReportJSON(lastLineOf: watch.stdout) else {
            watch.kill()
            throw DeployTestError("\(watch.name) gave no report:\n\(watch.stdout.suffix(2000))\n\(watch.stderr.suffix(2000))")
        }
        return report
    }

    // MARK: - Instances

    /// The node's admin `/stats`, through `switchboard admin stats --json`.
    func stats(of name: String) async throws -> ReportJSON {
        let result = try await DeployFiles.run(
            binary, ["admin", "stats", "--json", "--url", "http://127.0.0.1:\(ports[name]!.admin)", "--token", Self.adminToken], timeout: .seconds(20)
        )
        guard result.status == 0, let stats = ReportJSON(lastLineOf: result.stdout) else {
            throw DeployTestError("admin stats of \(name) failed: \(result.stdout)\(result.stderr)")
        }
        return stats
    }

    func version(of name: String) async throws -> String? { try await stats(of: name).string("version") }

    /// Open connections per instance of `colour`, from the admin API.
    func connections(of colour: String) async throws -> [(String, Int)] {
        var counts: [(String, Int)] = []
        for name in names(of: colour) {
            counts.append((name, try await stats(of: name).int("connections") ?? -1))
        }
        return counts
    }

    /// Current sessions per slot of `colour`, from HAProxy's `show stat`.
    func haproxyConnections(of colour: String) throws -> [(String, Int)] {
        let stat = try runtime("show stat")
        return names(of: colour).map { name in
            let row = stat.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .first { $0.count > 4 && $0[0] == colour && $0[1] == name }
            return (name, row.flatMap { Int($0[4]) } ?? -1)
        }
    }

    /// One HAProxy runtime API command through the stats socket.
    func runtime(_ command: String) throws -> String {
        let process = try ChildProcess(
            executable: DeployFiles.which("socat") ?? "/usr/bin/socat",
            arguments: ["-t", "5", "stdio", "UNIX-CONNECT:\(socketPath)"],
            standardInput: .pipe, standardOutput: .pipe
        )
        try process.standardInput!.write(Array((command + "\n").utf8))
        process.standardInput!.close()
        let data = try process.standardOutput!.readToEnd()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether the instance's server is not running (`switchboardctl status` exits 3).
    func isStopped(_ name: String) async throws -> Bool {
        let ctl = directory.appendingPathComponent("instances/\(name)/current/bin/switchboardctl").path
        return try await DeployFiles.run(ctl, ["status"], timeout: .seconds(20)).status == 3
    }

    /// The pid of the instance's server, from its current release's pid file.
    func pid(of name: String) -> Int32? {
        let file = directory.appendingPathComponent("instances/\(name)/current/run/switchboard.pid").path
        return (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Releases extracted on the instance (`releases/<version>`).
    func installedReleases(of name: String) -> [String] {
        let releases = directory.appendingPathComponent("instances/\(name)/releases").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: releases)) ?? []).sorted()
    }

    func currentRelease(of name: String) -> String? {
        let link = directory.appendingPathComponent("instances/\(name)/current").path
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: link)).map { URL(fileURLWithPath: $0).lastPathComponent }
    }

    func activeMapFile() throws -> String { try String(contentsOfFile: mapPath, encoding: .utf8) }

    // MARK: - Teardown

    /// Kills every instance (from their pid files), the watches, haproxy and
    /// redis, and deletes the binaries.
    func tearDown() {
        let instances = directory.appendingPathComponent("instances")
        for name in names {
            let releases = instances.appendingPathComponent("\(name)/releases")
            for release in (try? FileManager.default.contentsOfDirectory(atPath: releases.path)) ?? [] {
                let pidFile = releases.appendingPathComponent("\(release)/run/switchboard.pid").path
                guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                      let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
                      let commandLine = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                      commandLine.contains(releases.path)  // not a reused pid
                else { continue }
                kill(pid, SIGKILL)
            }
        }
        for process in processes.reversed() { process.kill() }
        processes.removeAll()
        // Keep the logs and reports (small); drop the tarballs and the
        // extracted binaries (about 1.4 GB a run).
        let files = FileManager.default
        try? files.removeItem(at: directory.appendingPathComponent("dist"))
        for name in names {
            let releases = instances.appendingPathComponent("\(name)/releases")
            for release in (try? files.contentsOfDirectory(atPath: releases.path)) ?? [] {
                try? files.removeItem(at: releases.appendingPathComponent("\(release)/bin/switchboard"))
                try? files.removeItem(at: releases.appendingPathComponent("\(release)/bin/switchboard.debug"))
            }
        }
    }
}
