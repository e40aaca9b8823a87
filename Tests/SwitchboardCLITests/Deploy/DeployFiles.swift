import Foundation
import Switchboard
import Testing
@testable import SwitchboardTesting

/// The deployment kit's files (deploy/, Dockerfile, haproxy.cfg, VERSION),
/// read and run by the deploy tests.
enum DeployFiles {
    /// The package root.
    static let root = SwitchboardProcess.packageRoot

    static func url(_ path: String) -> URL {
        root.appendingPathComponent(path)
    }

    /// The text of a file of the package, or a recorded failure naming it.
    static func text(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let url = url(path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing or unreadable: \(path)", sourceLocation: sourceLocation)
            throw DeployTestError("missing or unreadable: \(path)")
        }
        return text
    }

    static func isExecutable(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: url(path).path)
    }

    /// Whether a program is on PATH.
    static func which(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for directory in (path + ":/usr/sbin:/sbin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a program to completion (at most `timeout`), without the caller's
    /// `SWITCHBOARD*` variables, and answers its status and output.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        directory: URL? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-deploy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let stdoutURL = scratch.appendingPathComponent("stdout")
        let stderrURL = scratch.appendingPathComponent("stderr")

        var childEnvironment = ProcessInfo.processInfo.environment.filter { !$0.key.uppercased().hasPrefix("SWITCHBOARD") }
        childEnvironment.merge(environment) { _, new in new }
        let process = try ChildProcess(
            executable: executable, arguments: arguments, environment: childEnvironment, directory: (directory ?? root).path,
            standardInput: .nullDevice, standardOutput: .file(stdoutURL.path), standardError: .file(stderrURL.path)
        )
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.send(signal: SIGTERM)
                throw DeployTestError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Decoded leniently: a tool may print raw bytes (readelf prints a debug link's CRC).
        let stdout = String(decoding: (try? Data(contentsOf: stdoutURL)) ?? Data(), as: UTF8.self)
        let stderr = String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self)
        return (process.waitUntilExit().status, stdout, stderr)
    }
}

struct DeployTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
