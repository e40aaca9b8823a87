#if canImport(Glibc)
import Glibc
#endif
import Switchboard
import Foundation
import Testing
@testable import SwitchboardTesting

/// A long-running child process of the deploy test (redis-server, haproxy,
/// `switchboard bench watch`): output in files, killed at the end.
final class BackgroundProcess: @unchecked Sendable {
    let name: String
    let stdoutURL: URL
    let stderrURL: URL
    private let process: ChildProcess

    init(name: String, _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: URL) throws {
        self.name = name
        self.stdoutURL = directory.appendingPathComponent("\(name).out")
        self.stderrURL = directory.appendingPathComponent("\(name).err")
        var childEnvironment = ProcessInfo.processInfo.environment.filter { !$0.key.uppercased().hasPrefix("SWITCHBOARD") }
        childEnvironment.merge(environment) { _, new in new }
        process = try ChildProcess(
            executable: executable, arguments: arguments, environment: childEnvironment, directory: directory.path,
            standardInput: .nullDevice, standardOutput: .file(stdoutURL.path), standardError: .file(stderrURL.path)
        )
    }

    var isRunning: Bool { process.isRunning }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Sends `signal`, then waits up to `timeout` for the exit; true if it exited.
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) async -> Bool {
        process.send(signal: signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !process.isRunning
    }

    /// SIGKILL if still running.
    func kill() {
        if process.kill() {
            process.waitUntilExit()
        }
    }

    deinit { kill() }

    /// A `redis-server` on 127.0.0.1:`port` without persistence, its files in
    /// `directory`, returned once it answers.
    static func redisServer(port: Int, directory: URL) async throws -> BackgroundProcess {
        guard let executable = DeployFiles.which("redis-server") else {
            throw DeployTestError("redis-server is not installed: run scripts/test (it installs it) or apt-get install redis-server")
        }
        let redis = try BackgroundProcess(
            name: "redis", executable,
            ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            directory: directory
        )
        do {
            try await LoopbackPorts.waitUntilAnswering(port, what: "redis-server")
        } catch {
            redis.kill()
            throw error
        }
        return redis
    }
}

/// Loopback ports and TCP probes for the deploy test.
enum LoopbackPorts {
    /// A loopback port nothing listens on right now (bind port 0).
    static func free() throws -> Int {
        guard let port = LoopbackPort.free() else { throw DeployTestError("cannot find a free loopback port") }
        return port
    }

    /// `count` distinct free ports.
    static func free(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        while ports.count < count {
            let port = try free()
            if !ports.contains(port) { ports.append(port) }
        }
        return ports
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func answers(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                connect(fd, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Waits up to `timeout` until `port` answers.
    static func waitUntilAnswering(_ port: Int, what: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !answers(port) {
            guard ContinuousClock.now < deadline else { throw DeployTestError("\(what) does not listen on 127.0.0.1:\(port) after \(timeout)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A JSON object parsed with Foundation, with typed accessors for the tests.
struct ReportJSON: @unchecked Sendable {
    let value: [String: Any]

    init(_ value: [String: Any]) { self.value = value }

    /// The last line of `text` that parses as a JSON object.
    init?(lastLineOf text: String) {
        for line in text.split(separator: "\n").reversed() {
            if let data = line.data(using: .utf8),
               let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
                self.value = object
                return
            }
        }
        return nil
    }

    subscript(_ key: String) -> ReportJSON {
        ReportJSON(value[key] as? [String: Any] ?? [:])
    }

    func int(_ key: String) -> Int? { (value[key] as? NSNumber)?.intValue }
    func double(_ key: String) -> Double? { (value[key] as? NSNumber)?.doubleValue }
    func string(_ key: String) -> String? { value[key] as? String }
    /// Integer members (a count table such as `{"503": 2}`).
    var counts: [String: Int] { value.compactMapValues { ($0 as? NSNumber)?.intValue } }
}
