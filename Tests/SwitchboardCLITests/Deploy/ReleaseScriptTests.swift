import Foundation
import Testing

/// `deploy/release` is checked statically (a release build takes minutes);
/// `switchboardctl` is run for real against the debug build, in a release
/// folder laid out as the tarball's.
@Suite("Release packaging")
struct ReleaseScriptTests {
    @Test("deploy/release is a strict bash script that builds statically and names the tarball as documented")
    func releaseScript() async throws {
        #expect(DeployFiles.isExecutable("deploy/release"))
        let script = try DeployFiles.text("deploy/release")
        #expect(script.hasPrefix("#!/usr/bin/env bash\n"))
        #expect(script.contains("\nset -euo pipefail\n"))
        #expect(script.contains("swift build"))
        #expect(script.contains("-c release"))
        #expect(script.contains("--static-swift-stdlib"))
        #expect(script.contains("--scratch-path"))
        #expect(script.contains("libhiredis.a"), "hiredis must be linked statically")
        #expect(script.contains("ldd"), "the script must check the binary needs no Swift or hiredis shared library")
        #expect(script.contains("git describe --tags --always --dirty"))
        #expect(script.contains(#"name="switchboard-${version}-linux-${arch}""#))
        #expect(script.contains(#"tarball="$dist/$name.tar.gz""#))
        #expect(script.contains("arch=\"$(uname -m)\""))
        for packed in [
            "bin/switchboard", "bin/switchboardctl", "etc/switchboard.yaml", "etc/switchboard.service", "etc/switchboard.logrotate",
            "switchboard.debug", "--only-keep-debug", "--add-gnu-debuglink", "strip", "VERSION",
        ] {
            #expect(script.contains(packed), "the release must pack \(packed)")
        }
        let syntax = try await DeployFiles.run("/bin/bash", ["-n", "deploy/release"])
        #expect(syntax.status == 0, "bash -n deploy/release: \(syntax.stderr)")
    }

    @Test("the tarball ships the binary stripped, its debug information beside it, a systemd unit and a logrotate rule", .timeLimit(.minutes(8)))
    func tarballContents() async throws {
        try SwitchboardProcess.requireBinary()
        let tarball = try #require(try await SafetyReleases.shared.tarballs()["safety-1"])
        let files = FileManager.default
        let inputSize = try #require(try files.attributesOfItem(atPath: SwitchboardProcess.binaryPath)[.size] as? Int)
        let tarballSize = try #require(try files.attributesOfItem(atPath: tarball)[.size] as? Int)
        let listing = try await DeployFiles.run("/bin/tar", ["-tzf", tarball])
        #expect(Set(listing.stdout.split(separator: "\n").map(String.init)).isSuperset(of: [
            "VERSION", "bin/switchboard", "bin/switchboard.debug", "bin/switchboardctl",
            "etc/switchboard.yaml", "etc/switchboard.service", "etc/switchboard.logrotate",
        ]), "\(listing.stdout)")

        let folder = DeployFiles.url(".build/deploy-tests/tarball-\(UUID().uuidString.prefix(8))")
        try files.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? files.removeItem(at: folder) }
        let extracted = try await DeployFiles.run("/bin/tar", ["-xzf", tarball, "-C", folder.path], timeout: .seconds(120))
        #expect(extracted.status == 0, "\(extracted.stderr)")
        let binary = folder.appendingPathComponent("bin/switchboard").path
        let binarySize = try #require(try files.attributesOfItem(atPath: binary)[.size] as? Int)
        print("release tarball: input binary \(inputSize / 1_048_576) MiB, packed binary \(binarySize / 1_048_576) MiB, tarball \(tarballSize / 1_048_576) MiB")
        #expect(binarySize * 4 <= inputSize * 3, "the packed binary (\(binarySize) bytes) is stripped: at most 75 % of the build's \(inputSize)")
        #expect(tarballSize * 2 <= inputSize, "the tarball (\(tarballSize) bytes) is at most half the build's binary (\(inputSize))")

        let sections = try await DeployFiles.run("/usr/bin/readelf", ["-S", "-W", binary])
        #expect(sections.status == 0)
        #expect(!sections.stdout.contains(".debug_info"), "no DWARF in the shipped binary")
        #expect(!sections.stdout.contains(" .symtab "), "no symbol table in the shipped binary")
        let link = try await DeployFiles.run("/usr/bin/readelf", ["-p", ".gnu_debuglink", binary])
        #expect(link.stdout.contains("switchboard.debug"), "the binary names its debug file: \(link.stdout)")
        let debugSections = try await DeployFiles.run("/usr/bin/readelf", ["-S", "-W", folder.appendingPathComponent("bin/switchboard.debug").path])
        #expect(debugSections.stdout.contains(".debug_info") && debugSections.stdout.contains(".symtab"), "the debug file holds DWARF and symbols")
        let version = try await DeployFiles.run(binary, ["--version"])
        #expect(version.stdout == "safety-1\n", "the stripped binary runs")

        let unit = try String(contentsOf: folder.appendingPathComponent("etc/switchboard.service"), encoding: .utf8)
        for line in ["ExecStart=/srv/switchboard/node1/current/bin/switchboardctl start", "KillSignal=SIGTERM", "Restart=on-failure", "[Install]"] {
            #expect(unit.split(separator: "\n").contains { $0 == line }, "the unit has \(line)")
        }
    }

    @Test("switchboardctl in an instance folder logs to shared/log and rotates the log at start")
    func controlScriptLogs() async throws {
        try SwitchboardProcess.requireBinary()
        let fileManager = FileManager.default
        let instance = DeployFiles.url(".build/deploy-tests/instance-\(UUID().uuidString.prefix(8))")
        let release = instance.appendingPathComponent("releases/7.7.7-test")
        defer { try? fileManager.removeItem(at: instance) }
        for folder in ["bin", "etc"] {
            try fileManager.createDirectory(at: release.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let logFolder = instance.appendingPathComponent("shared/log")
        try fileManager.createDirectory(at: logFolder, withIntermediateDirectories: true)
        do {
            try fileManager.linkItem(atPath: SwitchboardProcess.binaryPath, toPath: release.appendingPathComponent("bin/switchboard").path)
        } catch {
            try fileManager.copyItem(atPath: SwitchboardProcess.binaryPath, toPath: release.appendingPathComponent("bin/switchboard").path)
        }
        try fileManager.copyItem(at: DeployFiles.url("deploy/switchboardctl"), to: release.appendingPathComponent("bin/switchboardctl"))
        try "7.7.7-test\n".write(to: release.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        try "SWITCHBOARD_AUTH=none\n".write(to: release.appendingPathComponent("etc/switchboard.env"), atomically: true, encoding: .utf8)
        let log = logFolder.appendingPathComponent("switchboard.log")
        try (String(repeating: "an old line\n", count: 20)).write(to: log, atomically: true, encoding: .utf8)
        try "older\n".write(to: logFolder.appendingPathComponent("switchboard.log.1"), atomically: true, encoding: .utf8)
        let ctl = release.appendingPathComponent("bin/switchboardctl").path

        let daemon = try await DeployFiles.run(
            ctl, ["daemon", "--port", "0", "--admin-port", "0"], environment: ["SWITCHBOARDCTL_LOG_MAX_BYTES": "100", "SWITCHBOARDCTL_LOG_KEEP": "3"]
        )
        defer { _ = try? ChildProcessCleanup.stop(ctl) }
        #expect(daemon.status == 0, "daemon: \(daemon.stdout)\(daemon.stderr)")
        #expect(daemon.stdout.contains("log \(log.path)"), "the log is the instance's: \(daemon.stdout)")
        #expect(daemon.stdout.contains("rotated \(log.path)"))
        #expect(try String(contentsOf: logFolder.appendingPathComponent("switchboard.log.1"), encoding: .utf8).hasPrefix("an old line"))
        #expect(try String(contentsOf: logFolder.appendingPathComponent("switchboard.log.2"), encoding: .utf8) == "older\n")
        #expect(!fileManager.fileExists(atPath: release.appendingPathComponent("log").path), "nothing logged per release")
        let deadline = ContinuousClock.now + .seconds(20)
        var text = ""
        while !text.contains("listening on"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("switchboard 7.7.7-test node "), "the server writes to shared/log/switchboard.log: \(text)")
        let stop = try await DeployFiles.run(ctl, ["stop"])
        #expect(stop.status == 0 && stop.stdout.hasSuffix("stopped\n"), "\(stop.stdout)\(stop.stderr)")
    }

    @Test("switchboardctl is a strict bash script with every command")
    func controlScript() async throws {
        #expect(DeployFiles.isExecutable("deploy/switchboardctl"))
        let script = try DeployFiles.text("deploy/switchboardctl")
        #expect(script.contains("\nset -euo pipefail\n"))
        for command in ["start)", "daemon)", "stop)", "pid)", "status)", "version)", "health)"] {
            #expect(script.contains("    \(command)\n"), "switchboardctl must handle \(command)")
        }
        #expect(script.contains("kill -TERM"))
        #expect(script.contains(#"exec "$binary" serve"#), "start must exec the server so signals reach it")
        let syntax = try await DeployFiles.run("/bin/bash", ["-n", "deploy/switchboardctl"])
        #expect(syntax.status == 0, "bash -n deploy/switchboardctl: \(syntax.stderr)")
        #expect(FileManager.default.fileExists(atPath: DeployFiles.url("deploy/switchboard.yaml").path))
    }

    @Test("switchboardctl runs a release folder: version, daemon, status, pid, health, stop")
    func controlScriptRunsARelease() async throws {
        try SwitchboardProcess.requireBinary()
        // A release folder on the build's file system, so the binary can be hard-linked.
        let release = DeployFiles.url(".build/deploy-tests/release-\(UUID().uuidString)")
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: release.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try fileManager.createDirectory(at: release.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: release) }
        let binary = release.appendingPathComponent("bin/switchboard")
        do {
            try fileManager.linkItem(atPath: SwitchboardProcess.binaryPath, toPath: binary.path)
        } catch {
            try fileManager.copyItem(atPath: SwitchboardProcess.binaryPath, toPath: binary.path)
        }
        try fileManager.copyItem(at: DeployFiles.url("deploy/switchboardctl"), to: release.appendingPathComponent("bin/switchboardctl"))
        try fileManager.copyItem(at: DeployFiles.url("deploy/switchboard.yaml"), to: release.appendingPathComponent("etc/switchboard.yaml"))
        try "9.8.7-test\n".write(to: release.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        try "SWITCHBOARD_SECRET_KEY_BASE=\(String(repeating: "k", count: 48))\n"
            .write(to: release.appendingPathComponent("etc/switchboard.env"), atomically: true, encoding: .utf8)
        let ctl = release.appendingPathComponent("bin/switchboardctl").path
        let elsewhere = FileManager.default.temporaryDirectory

        let version = try await DeployFiles.run(ctl, ["version"], directory: elsewhere)
        #expect(version.status == 0)
        #expect(version.stdout == "9.8.7-test\n", "the release's VERSION is the binary's version")
        let direct = try await DeployFiles.run(binary.path, ["--version"], directory: elsewhere)
        #expect(direct.stdout == "9.8.7-test\n")

        let notRunning = try await DeployFiles.run(ctl, ["status"], directory: elsewhere)
        #expect(notRunning.status == 3)
        #expect(notRunning.stdout == "not running\n")

        let daemon = try await DeployFiles.run(ctl, ["daemon", "--port", "0", "--admin-port", "0"], directory: elsewhere)
        #expect(daemon.status == 0, "daemon: \(daemon.stdout)\(daemon.stderr)")
        guard daemon.status == 0 else { return }
        var stopped = false
        defer {
            if !stopped, let pid = try? String(contentsOf: release.appendingPathComponent("run/switchboard.pid"), encoding: .utf8),
               let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(number, SIGKILL)
            }
        }
        let again = try await DeployFiles.run(ctl, ["daemon"], directory: elsewhere)
        #expect(again.status == 0)
        #expect(again.stdout.hasPrefix("already running (pid "))

        let status = try await DeployFiles.run(ctl, ["status"], directory: elsewhere)
        #expect(status.status == 0)
        #expect(status.stdout.hasPrefix("running (pid "))
        #expect(status.stdout.contains("version 9.8.7-test"))
        let pid = try await DeployFiles.run(ctl, ["pid"], directory: elsewhere)
        #expect(pid.status == 0)
        #expect(Int(pid.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)

        // The port the server picked, from its log.
        let log = release.appendingPathComponent("log/switchboard.log")
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(20)
        while port == nil, ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"node [^ ]+ listening on http://[^ ]+:(\d+)"#, options: .regularExpression) {
                port = text[range].split(separator: ":").last.flatMap { Int($0) }
                #expect(text[range].hasPrefix("node "))
                #expect(text.contains("switchboard 9.8.7-test node "), "the startup line reports the release's version")
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let listening = try #require(port, "no listening line in the log")
        let health = try await DeployFiles.run(ctl, ["health"], environment: ["SWITCHBOARDCTL_HEALTH_PORT": "\(listening)"], directory: elsewhere)
        #expect(health.status == 0, "health: \(health.stdout)\(health.stderr)")
        #expect(health.stdout.hasPrefix("healthy: HTTP/1.1 200"))

        let stop = try await DeployFiles.run(ctl, ["stop"], directory: elsewhere)
        #expect(stop.status == 0, "stop: \(stop.stdout)\(stop.stderr)")
        #expect(stop.stdout.hasSuffix("stopped\n"))
        stopped = stop.status == 0
        let after = try await DeployFiles.run(ctl, ["status"], directory: elsewhere)
        #expect(after.status == 3)
        let stopAgain = try await DeployFiles.run(ctl, ["stop"], directory: elsewhere)
        #expect(stopAgain.status == 0)
        #expect(stopAgain.stdout == "not running\n")
    }
}

/// Stops a server started by `switchboardctl daemon` when a test ends early.
enum ChildProcessCleanup {
    static func stop(_ ctl: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ctl)
        process.arguments = ["stop"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }
}
