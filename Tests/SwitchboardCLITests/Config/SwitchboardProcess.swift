import Foundation
import Switchboard
import Testing
@testable import SwitchboardTesting

/// The built `switchboard` executable, run as a child process with its own
/// environment (no inherited `SWITCHBOARD_*` variables) and its output
/// captured in temporary files.
final class SwitchboardProcess: Sendable {
    /// The package root, found from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Config
        .deletingLastPathComponent()  // SwitchboardTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// `.build/debug/switchboard`, or `$SWITCHBOARD_BINARY`.
    static var binaryPath: String {
        ProcessInfo.processInfo.environment["SWITCHBOARD_BINARY"]
            ?? packageRoot.appendingPathComponent(".build/debug/switchboard").path
    }

    /// Fails the test (and throws) when the binary has not been built.
    static func requireBinary(sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard FileManager.default.isExecutableFile(atPath: binaryPath) else {
            let message = "the switchboard executable is missing at \(binaryPath); run `swift build --build-tests` (or scripts/test) first"
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            throw RawTCPError(message)
        }
    }

    private let process: ChildProcess
    private let stdoutURL: URL
    private let stderrURL: URL

    /// Starts `switchboard <arguments>`, through `launcher` (a command that
    /// execs the binary, such as `prlimit …`) when one is given.
    init(_ arguments: [String], environment: [String: String] = [:], launcher: [String] = []) throws {
        try Self.requireBinary()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchboard-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        stdoutURL = directory.appendingPathComponent("stdout")
        stderrURL = directory.appendingPathComponent("stderr")

        var childEnvironment = ProcessInfo.processInfo.environment.filter { !$0.key.uppercased().hasPrefix("SWITCHBOARD_") }
        childEnvironment.merge(environment) { _, new in new }

        let executable = launcher.first ?? Self.binaryPath
        let childArguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [Self.binaryPath] + arguments
        process = try ChildProcess(
            executable: executable, arguments: childArguments, environment: childEnvironment,
            standardInput: .nullDevice, standardOutput: .file(stdoutURL.path), standardError: .file(stderrURL.path)
        )
    }

    deinit {
        if process.kill() {
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: stdoutURL.deletingLastPathComponent())
    }

    /// Runs `switchboard <arguments>` to completion (at most 20 s).
    static func run(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try SwitchboardProcess(arguments, environment: environment)
        let status = try await child.waitForExit(timeout: .seconds(20))
        return (status, child.stdout, child.stderr)
    }

    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// The port from the startup line (`listening on http://host:PORT`), once it is logged.
    func listeningPort(timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let range = stderr.range(of: #"listening on http://[^ ]+:(\d+)"#, options: .regularExpression) {
                let match = stderr[range]
                if let port = match.split(separator: ":").last.flatMap({ Int($0) }) {
                    return port
                }
            }
            if let termination = process.termination {
                throw RawTCPError("switchboard exited (status \(termination.status)) before listening:\n\(stderr)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RawTCPError("switchboard did not log its listening line within \(timeout):\n\(stderr)")
    }

    /// The child's process id.
    var pid: Int32 { process.pid }

    /// Sends SIGTERM.
    func terminate() {
        process.send(signal: SIGTERM)
    }

    /// Sends SIGKILL and reaps the process: a crash, as the other nodes see one.
    func kill() {
        if process.kill() {
            process.waitUntilExit()
        }
    }

    /// The exit status once the process ends; a death by signal `n` gives `128 + n`.
    func waitForExit(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch process.termination {
            case .exited(let code): return code
            case .signalled(let signal): return 128 + signal
            case nil: break
            }
            guard ContinuousClock.now < deadline else {
                process.kill()
                throw RawTCPError("switchboard did not exit within \(timeout):\n\(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
