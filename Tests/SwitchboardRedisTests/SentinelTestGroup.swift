import Foundation
import SwitchboardTesting

/// A Sentinel group for one test: a master, a replica of it (`--replicaof`)
/// and three sentinels (`redis-server <conf> --sentinel`, each with its own
/// config file in a temporary directory) watching them as ``masterName``
/// with a quorum of 2 and a 1 s `down-after-milliseconds`. Everything is
/// killed by ``stop()``.
final class SentinelTestGroup: @unchecked Sendable {
    static let masterName = "mymaster"

    /// The data servers, the first master at the start.
    let servers: [RedisTestServer]
    let sentinelPorts: [Int]
    /// The sentinels' `requirepass`, if any.
    let sentinelPassword: String?
    private let directory: URL
    private let lock = NSLock()
    private var sentinels: [ChildProcess]

    private init(servers: [RedisTestServer], sentinelPorts: [Int], sentinelPassword: String?, sentinels: [ChildProcess], directory: URL) {
        self.sentinelPassword = sentinelPassword
        self.servers = servers
        self.sentinelPorts = sentinelPorts
        self.sentinels = sentinels
        self.directory = directory
    }

    /// `redis+sentinel://127.0.0.1:<p1>,…/mymaster`, with `name` instead when given.
    func url(masterName: String = SentinelTestGroup.masterName, scheme: String = "redis+sentinel") -> String {
        "\(scheme)://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(masterName)"
    }

    /// Starts the servers and `count` sentinels (with `requirepass
    /// password` when given) and waits until every sentinel knows the
    /// replica and the other sentinels (a failover needs both).
    static func start(sentinels count: Int = 3, password: String? = nil) async throws -> SentinelTestGroup {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-sentinel-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // No delay before a full resynchronisation of a demoted master; the
        // replica's copy of the data set goes to the temporary directory.
        let options = ["--repl-diskless-sync-delay", "0", "--dir", directory.path]
        let master: RedisTestServer
        do {
            master = try await RedisTestServer.start(arguments: options)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        let replica: RedisTestServer
        do {
            replica = try await RedisTestServer.start(arguments: options + ["--replicaof", "127.0.0.1", "\(master.port)"])
        } catch {
            master.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        var ports: [Int] = []
        var processes: [ChildProcess] = []
        do {
            for index in 0..<count {
                let port = try RedisTestServer.freePort()
                let configuration = directory.appendingPathComponent("sentinel-\(index).conf")
                try """
                port \(port)
                bind 127.0.0.1
                daemonize no
                dir \(directory.path)
                sentinel monitor \(masterName) 127.0.0.1 \(master.port) \(min(count, 2))
                \(password.map { "requirepass \($0)" } ?? "")
                sentinel down-after-milliseconds \(masterName) 1000
                sentinel failover-timeout \(masterName) 4000
                sentinel parallel-syncs \(masterName) 1

                """.write(to: configuration, atomically: true, encoding: .utf8)
                guard let executable = RedisTestServer.executable else { throw RedisTestServer.Missing() }
                processes.append(try ChildProcess(
                    executable: executable.path, arguments: [configuration.path, "--sentinel"],
                    standardOutput: .file(directory.appendingPathComponent("sentinel-\(index).log").path),
                    standardError: .nullDevice
                ))
                ports.append(port)
            }
        } catch {
            processes.forEach { _ = $0.kill() }
            master.stop()
            replica.stop()
            throw error
        }
        let started = SentinelTestGroup(
            servers: [master, replica], sentinelPorts: ports, sentinelPassword: password, sentinels: processes, directory: directory
        )
        do {
            try await started.waitUntilReady()
        } catch {
            started.stop()
            throw error
        }
        return started
    }

    /// Waits (at most 20 s) until each sentinel sees one replica that is
    /// up and two other sentinels.
    private func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        var last = ""
        while ContinuousClock.now < deadline {
            var ready = true
            for port in sentinelPorts {
                let replicas = (try? await redisCLI(port: port, ["SENTINEL", "REPLICAS", Self.masterName], password: sentinelPassword)) ?? ""
                let others = (try? await redisCLI(port: port, ["SENTINEL", "SENTINELS", Self.masterName], password: sentinelPassword)) ?? ""
                let sentinelCount = others.components(separatedBy: "\nip\n").count - 1
                if !replicas.contains("\(servers[1].port)") || !replicas.contains("slave\n") || sentinelCount < sentinelPorts.count - 1 {
                    ready = false
                    last = "sentinel \(port) sees \(sentinelCount) other sentinel(s) and replicas: \(replicas.prefix(300))"
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RedisTestServer.NotStarting(description: "the sentinels did not see the replica and each other within 20 s: \(last)")
    }

    /// The port of the master the sentinel at `index` names.
    func masterPort(askingSentinel index: Int = 0) async throws -> Int? {
        let answer = try await redisCLI(port: sentinelPorts[index], ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self.masterName])
        let lines = answer.split(separator: "\n")
        guard lines.count == 2 else { return nil }
        return Int(lines[1])
    }

    /// The data server that is master now, by its own `ROLE`.
    func currentMaster() async -> RedisTestServer? {
        for server in servers {
            if let role = try? await redisCLI(port: server.port, ["ROLE"]), role.hasPrefix("master") {
                return server
            }
        }
        return nil
    }

    /// Asks the sentinel at `sentinel` for a failover (`SENTINEL FAILOVER`),
    /// retrying while it refuses (a failover in progress, the demoted master
    /// not yet a usable replica), then waits until that sentinel names a
    /// master other than the one at `fromPort`. At most `limit`.
    func failover(from fromPort: Int, askingSentinel sentinel: Int, within limit: Duration = .seconds(15)) async throws -> Int {
        let deadline = ContinuousClock.now + limit
        var refusal = ""
        while ContinuousClock.now < deadline {
            do {
                let answer = try await redisCLI(port: sentinelPorts[sentinel], ["SENTINEL", "FAILOVER", Self.masterName])
                if answer.hasPrefix("OK") { break }
                refusal = answer
            } catch {
                refusal = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        while ContinuousClock.now < deadline {
            if let port = try await masterPort(askingSentinel: sentinel), port != fromPort {
                return port
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisTestServer.NotStarting(description: "no failover away from \(fromPort) within \(limit) (last refusal: \(refusal))")
    }

    /// Waits (at most `limit`) until the server at `masterPort` is the
    /// master and every other one still running a replica of it with its
    /// link up, so that another failover can happen.
    func waitUntilReplicated(masterPort: Int, within limit: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            var ready = true
            for server in servers where server.isRunning {
                let info = (try? await redisCLI(port: server.port, ["INFO", "replication"])) ?? ""
                if server.port == masterPort {
                    if !info.contains("role:master") { ready = false }
                } else if !(info.contains("master_port:\(masterPort)") && info.contains("master_link_status:up")) {
                    ready = false
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisTestServer.NotStarting(description: "the replica's link did not come up within \(limit)")
    }

    func stop() {
        let processes = lock.withLock { () -> [ChildProcess] in
            defer { sentinels = [] }
            return sentinels
        }
        for process in processes {
            _ = process.kill()
            _ = process.waitUntilExit()
        }
        servers.forEach { $0.stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        stop()
    }
}

/// Runs `redis-cli -p <port> <arguments>` against a loopback server or
/// sentinel, waiting without blocking a thread (at most 10 s), and returns
/// its output (replies in redis-cli's raw form, one value a line).
func redisCLI(port: Int, _ arguments: [String], password: String? = nil, within limit: Duration = .seconds(10)) async throws -> String {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cli-\(port)-\(UInt32.random(in: 0 ... .max)).out").path
    defer { try? FileManager.default.removeItem(atPath: log) }
    let process = try ChildProcess(
        executable: "/usr/bin/redis-cli",
        arguments: ["-h", "127.0.0.1", "-p", "\(port)", "--raw"] + (password.map { ["-a", $0, "--no-auth-warning"] } ?? []) + arguments,
        standardInput: .nullDevice, standardOutput: .file(log), standardError: .file(log)
    )
    let deadline = ContinuousClock.now + limit
    while process.termination == nil, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(5))
    }
    guard process.termination != nil else {
        _ = process.kill()
        _ = process.waitUntilExit()
        throw RedisTestServer.NotStarting(description: "redis-cli \(arguments.joined(separator: " ")) did not finish within \(limit)")
    }
    return (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
}
