import Foundation
import Logging
import Switchboard
import SwitchboardTesting
import Testing

/// Autobahn|Testsuite, the WebSocket conformance suite, against an echo
/// mount on Switchboard's own WebSocket transport (``SocketEndpoint/echoesFrames``):
/// every case must be OK, NON-STRICT or INFORMATIONAL, none FAILED or
/// UNIMPLEMENTED (the permessage-deflate cases included).
///
/// The suite's `wstest` is a Python 2.7 program (PyPI `autobahntestsuite`,
/// which `scripts/test` installs); it is found as `SWITCHBOARD_WSTEST`, else
/// `~/.local/bin/wstest`. The performance cases (9.x: up to 16 MiB messages)
/// and the compression cases of the smallest and the larger sizes are left
/// out (minutes of run time).
@Suite("Autobahn|Testsuite", .serialized, .timeLimit(.minutes(10)))
struct AutobahnTests {
    @Test func everyCasePassesOrIsNonStrict() async throws {
        let wstest = try Self.wstest()
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoopThreads = 1
        configuration.limits.inboundMessageRate = nil
        configuration.shutdownGracePeriod = .seconds(1)
        var echo = SocketEndpoint(path: "/echo", socket: DemoSocket(), router: ChannelRouter(), checkOrigin: .disabled)
        echo.echoesFrames = true
        echo.compress = true
        var logger = Logger(label: "autobahn")
        logger.logLevel = .error
        let server = SwitchboardServer(configuration: configuration, endpoints: [echo], logger: logger)
        try await server.start()
        defer { Task { await server.shutdown() } }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autobahn-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spec: JSONValue = [
            "outdir": .string(directory + "/reports"),
            "servers": [["agent": "switchboard", "url": .string("ws://127.0.0.1:\(server.localPort!)/echo/websocket?vsn=2.0.0")]],
            // The compression cases (12.x, 13.x) each echo 1,000 messages of one
            // size, from 16 bytes to 128 KiB: sizes 2 to 5 (64 B to 4 KiB) of every
            // group run. (Case patterns match as prefixes: "12.*.1" is 12.x.1 and 12.x.1y.)
            "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*", "12.*", "13.*"],
            "exclude-cases": .array(["12", "13"].flatMap { group in [1, 6, 7, 8, 9].map { JSONValue.string("\(group).*.\($0)") } }),
            "exclude-agent-cases": [:],
        ]
        try spec.jsonString.write(toFile: directory + "/spec.json", atomically: true, encoding: .utf8)

        let run = try ChildProcess(
            executable: wstest, arguments: ["-m", "fuzzingclient", "-s", "spec.json"],
            environment: ProcessInfo.processInfo.environment.merging(["PYENV_VERSION": "2.7.18"]) { $1 },
            directory: directory, standardOutput: .file(directory + "/wstest.log"), standardError: .file(directory + "/wstest.log")
        )
        let termination = await Task.detached { run.waitUntilExit() }.value
        let log = (try? String(contentsOfFile: directory + "/wstest.log", encoding: .utf8)) ?? ""
        #expect(termination == .exited(0), "wstest: \(log.suffix(2_000))")

        let index = try JSONValue(parsing: String(contentsOfFile: directory + "/reports/index.json", encoding: .utf8))
        guard case .object(let agents) = index, case .object(let cases)? = agents["switchboard"] else {
            Issue.record("no results for the agent in index.json")
            return
        }
        var byBehavior: [String: [String]] = [:]
        for (id, result) in cases {
            let behavior = result["behavior"]?.stringValue ?? "?"
            let close = result["behaviorClose"]?.stringValue ?? "?"
            byBehavior[behavior, default: []].append(id)
            if close == "FAILED" { byBehavior["FAILED (close)", default: []].append(id) }
        }
        let summary = byBehavior.map { "\($0.key): \($0.value.count)" }.sorted().joined(separator: ", ")
        print("Autobahn|Testsuite, \(cases.count) cases: \(summary)")
        #expect(cases.count > 200)
        #expect(byBehavior["FAILED"] == nil, "failed: \(byBehavior["FAILED"]?.sorted() ?? [])")
        #expect(byBehavior["FAILED (close)"] == nil, "close failed: \(byBehavior["FAILED (close)"]?.sorted() ?? [])")
        #expect(byBehavior["UNIMPLEMENTED"] == nil, "unimplemented: \(byBehavior["UNIMPLEMENTED"]?.count ?? 0)")
        #expect(byBehavior["?"] == nil)
    }

    /// The `wstest` executable.
    private static func wstest() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let candidates = [environment["SWITCHBOARD_WSTEST"], environment["HOME"].map { $0 + "/.local/bin/wstest" }].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw AutobahnMissing(looked: candidates)
        }
        return found
    }

    struct AutobahnMissing: Error, CustomStringConvertible {
        var looked: [String]
        var description: String {
            "wstest not found (looked at \(looked.joined(separator: ", "))): scripts/test installs it (PYENV_VERSION=2.7.18 python -m pip install --user autobahntestsuite)"
        }
    }
}
