#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The deploy scripts must never hurt the live colour: each test recreates a
/// hazard an operator met (a wrong or missing map name, a wrong stats socket,
/// a deploy run twice, the last serving instance) on a real cluster
/// (haproxy, redis-server, two blue and two green instances of the debug
/// build, installed by the scripts) and checks that the live instances were
/// not touched and the script said why it stopped.
@Suite("Deploy scripts keep the live colour safe", .serialized)
struct DeploySafetyTests {
    static let names = ["blue1", "blue2", "green1", "green2"]

    /// A cluster whose blue instances run `safety-1`, installed by deploy/rolling.
    private func bootstrap(colour: String = "blue") async throws -> DeployTestCluster {
        try SwitchboardProcess.requireBinary()
        let tarballs = try await SafetyReleases.shared.tarballs()
        let cluster = try await DeployTestCluster.start(binary: SwitchboardProcess.binaryPath, names: Self.names, tarballs: tarballs)
        do {
            let installed = try await cluster.deploy("rolling", cluster.tarball("safety-1"), settings: ["DEPLOY_COLOUR": colour])
            try #require(installed.status == 0, "bootstrap of \(colour) failed:\n\(installed.stdout)\(installed.stderr)")
            for name in cluster.names(of: colour) {
                try #require(cluster.pid(of: name) != nil, "\(name) runs")
            }
        } catch {
            cluster.tearDown()
            throw error
        }
        return cluster
    }

    /// The pids of the instances of `colour`, to check they were not restarted.
    private func pids(_ cluster: DeployTestCluster, _ colour: String) -> [String: Int32] {
        Dictionary(uniqueKeysWithValues: cluster.names(of: colour).compactMap { name in cluster.pid(of: name).map { (name, $0) } })
    }

    private func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    private func errorLines(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { $0.hasPrefix("deploy: error:") }
    }

    @Test("a wrong or unset SWITCHBOARD_ACTIVE_MAP: blue-green reads the live colour from HAProxy or refuses", .timeLimit(.minutes(8)))
    func activeMap() async throws {
        let cluster = try await bootstrap(colour: "green")
        defer { cluster.tearDown() }
        // Green is live: HAProxy's map (and its file) say so.
        #expect(try cluster.runtime("set map \(cluster.mapPath) active green").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        try "active green\n".write(toFile: cluster.mapPath, atomically: true, encoding: .utf8)
        let live = pids(cluster, "green")
        #expect(live.count == 2)
        let repositoryMap = DeployFiles.url("deploy/haproxy/active.map").path
        let repositoryMapBefore = try DeployFiles.text("deploy/haproxy/active.map")
        let repositoryMapDate = try FileManager.default.attributesOfItem(atPath: repositoryMap)[.modificationDate] as? Date

        // A map name HAProxy does not have: refused before anything is touched.
        let wrong = try await cluster.deploy("blue-green", cluster.tarball("safety-2"), settings: ["SWITCHBOARD_ACTIVE_MAP": "/nonexistent/active.map"])
        #expect(wrong.status != 0, "a map HAProxy does not have must stop the deploy")
        #expect(wrong.stderr.contains("HAProxy has no map \"/nonexistent/active.map\""), "\(wrong.stderr)")
        #expect(!wrong.stdout.contains("done"))
        for (name, pid) in live {
            #expect(cluster.pid(of: name) == pid && isAlive(pid), "live \(name) was not restarted")
        }
        for name in Self.names {
            #expect(!cluster.installedReleases(of: name).contains("safety-2"), "nothing installed on \(name)")
        }
        #expect(try cluster.runtime("show map \(cluster.mapPath)").contains("active green"))

        // Unset: the one map HAProxy has is the one, so green is live and blue gets the release.
        let unset = try await cluster.deploy("blue-green", cluster.tarball("safety-2"), drain: 1, settings: ["SWITCHBOARD_ACTIVE_MAP": nil])
        #expect(unset.status == 0, "blue-green with SWITCHBOARD_ACTIVE_MAP unset:\n\(unset.stdout)\(unset.stderr)")
        #expect(try cluster.runtime("show map \(cluster.mapPath)").contains("active blue"), "blue is live after the deploy")
        #expect(try cluster.activeMapFile().contains("active blue"), "HAProxy's own map file was rewritten")
        for name in cluster.names(of: "blue") {
            #expect(try await cluster.version(of: name) == "safety-2", "\(name) runs the new release")
        }
        for (name, pid) in live {
            #expect(cluster.pid(of: name) == nil && !isAlive(pid), "old live \(name) was drained and stopped only after the switch")
            #expect(cluster.currentRelease(of: name) == "safety-1", "\(name) was not given the new release")
        }
        #expect(try DeployFiles.text("deploy/haproxy/active.map") == repositoryMapBefore, "the repository's map is untouched")
        #expect(try FileManager.default.attributesOfItem(atPath: repositoryMap)[.modificationDate] as? Date == repositoryMapDate)
    }

    @Test("a wrong SWITCHBOARD_HAPROXY_SOCKET stops every script at once, with one error line", .timeLimit(.minutes(8)))
    func wrongSocket() async throws {
        let cluster = try await bootstrap()
        defer { cluster.tearDown() }
        let live = pids(cluster, "blue")
        let wrongSocket = cluster.directory.appendingPathComponent("no-such.sock").path
        for (script, arguments) in [("rolling", [cluster.tarball("safety-2")]), ("blue-green", [cluster.tarball("safety-2")]), ("rollback", [])] {
            let result = try await DeployFiles.run(
                DeployFiles.url("deploy/\(script)").path, arguments,
                environment: [
                    "DEPLOY_INVENTORY": cluster.inventoryPath, "SWITCHBOARD_HAPROXY_SOCKET": wrongSocket,
                    "SWITCHBOARD_ACTIVE_MAP": cluster.mapPath, "SWITCHBOARD_ADMIN_TOKEN": DeployTestCluster.adminToken,
                    "DEPLOY_DRAIN_WINDOW": "1s", "DEPLOY_READY_TIMEOUT": "30",
                ],
                timeout: .seconds(180)
            )
            print("--- deploy/\(script) with a wrong socket (exit \(result.status))\n\(result.stdout)\(result.stderr)")
            #expect(result.status != 0, "\(script) must fail")
            let errors = errorLines(result.stderr)
            #expect(errors.count == 1, "\(script): one error line, then stop: \(errors)")
            #expect(errors.first?.contains(wrongSocket) == true, "\(script) names the socket: \(errors)")
            for name in Self.names {
                #expect(!cluster.installedReleases(of: name).contains("safety-2"), "\(script) installed nothing on \(name)")
            }
            for (name, pid) in live {
                #expect(cluster.pid(of: name) == pid && isAlive(pid), "\(script) left live \(name) running")
            }
        }
    }

    @Test("no step takes the last serving instance of the live colour out of rotation", .timeLimit(.minutes(8)))
    func lastServingInstance() async throws {
        let cluster = try await bootstrap()
        defer { cluster.tearDown() }
        let live = pids(cluster, "blue")
        // blue2 goes to maintenance behind the scripts' back: blue1 alone serves.
        #expect(try cluster.runtime("set server blue/blue2 state maint").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let result = try await cluster.deploy("rolling", cluster.tarball("safety-2"), drain: 1)
        #expect(result.status != 0, "the deploy must refuse")
        #expect(result.stderr.contains("refusing to drain blue1: it is the last serving instance of the live colour blue"), "\(result.stderr)")
        let blue1 = try cluster.runtime("show stat").split(separator: "\n").first { $0.hasPrefix("blue,blue1,") }
        #expect(blue1?.split(separator: ",", omittingEmptySubsequences: false)[17].hasPrefix("UP") == true, "blue1 still serves: \(blue1 ?? "")")
        for (name, pid) in live {
            #expect(cluster.pid(of: name) == pid && isAlive(pid), "\(name) was not restarted")
            #expect(try await cluster.version(of: name) == "safety-1")
        }
        #expect(cluster.currentRelease(of: "blue1") == "safety-1")
    }

    @Test("running a deploy again for the version already running resumes it", .timeLimit(.minutes(10)))
    func rerun() async throws {
        let cluster = try await bootstrap()
        defer { cluster.tearDown() }
        let blue = pids(cluster, "blue")

        // Rolling, again for safety-1: nothing restarted, exit 0.
        let again = try await cluster.deploy("rolling", cluster.tarball("safety-1"), drain: 1, rebalanceWindow: 1)
        #expect(again.status == 0, "rolling to the running version:\n\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("blue1: already runs safety-1"))
        for (name, pid) in blue {
            #expect(cluster.pid(of: name) == pid && isAlive(pid), "\(name) was not restarted")
        }

        // A blue-green deploy that stopped after starting green on safety-2 (green
        // ready in HAProxy, not yet live): running it again keeps green as it is.
        let started = try await cluster.deploy("rolling", cluster.tarball("safety-2"), settings: ["DEPLOY_COLOUR": "green"])
        try #require(started.status == 0, "green on safety-2:\n\(started.stdout)\(started.stderr)")
        let green = pids(cluster, "green")
        #expect(green.count == 2)
        let resumed = try await cluster.deploy("blue-green", cluster.tarball("safety-2"), drain: 1)
        #expect(resumed.status == 0, "blue-green resumed:\n\(resumed.stdout)\(resumed.stderr)")
        #expect(try cluster.runtime("show map \(cluster.mapPath)").contains("active green"))
        for (name, pid) in green {
            #expect(cluster.pid(of: name) == pid && isAlive(pid), "\(name) already ran safety-2 and was kept")
        }
        for (name, pid) in blue {
            #expect(!isAlive(pid), "\(name) was stopped after the switch")
        }

        // Once more: the live colour runs the version; nothing to do.
        let done = try await cluster.deploy("blue-green", cluster.tarball("safety-2"), drain: 1)
        #expect(done.status == 0, "blue-green a third time:\n\(done.stdout)\(done.stderr)")
        #expect(done.stdout.contains("green (active) already serves safety-2"))
        #expect(try cluster.runtime("show map \(cluster.mapPath)").contains("active green"))
        for (name, pid) in green {
            #expect(cluster.pid(of: name) == pid && isAlive(pid), "\(name) untouched")
        }
    }

    @Test("publishes through HAProxy on keep-alive connections are all answered through rolling and blue-green deploys", .timeLimit(.minutes(8)))
    func publishesAnswered() async throws {
        let cluster = try await bootstrap()
        defer { cluster.tearDown() }
        let publisher = HTTPPublisher(port: cluster.httpPort, topics: (0..<10).map { "room:publish:\($0)" }, connections: 2, rate: 5)
        publisher.start()
        try await Task.sleep(for: .seconds(2))
        let before = publisher.soFar
        #expect(before.accepted > 0, "publishing works before the deploys: \(before)")

        let rolling = try await cluster.deploy("rolling", cluster.tarball("safety-2"), drain: 1, rebalanceWindow: 1)
        #expect(rolling.status == 0, "rolling:\n\(rolling.stdout)\(rolling.stderr)")
        let afterRolling = publisher.soFar
        let blueGreen = try await cluster.deploy("blue-green", cluster.tarball("safety-1"), drain: 1)
        #expect(blueGreen.status == 0, "blue-green:\n\(blueGreen.stdout)\(blueGreen.stderr)")
        try await Task.sleep(for: .seconds(1))
        let tally = await publisher.stop()
        print("publishes through HAProxy (10 topics, 5/s each, 2 keep-alive connections): before \(before); after the rolling deploy \(afterRolling); at the end \(tally)")
        #expect(tally.closed == 0, "no publish dropped in flight: \(tally)")
        #expect(tally.hung == 0, "no publish left hanging: \(tally)")
        #expect(tally.accepted == tally.sent, "every publish accepted (202): \(tally)")
        #expect(tally.sent > 100, "publishing went on through the deploys: \(tally)")
    }

    @Test("shellcheck finds nothing in deploy/")
    func shellcheck() async throws {
        let shellcheck = try #require(DeployFiles.which("shellcheck"), "shellcheck is not installed: run scripts/test (it installs it) or apt-get install shellcheck")
        let folder = DeployFiles.url("deploy")
        var scripts: [String] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let text = (try? String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)) ?? ""
            if file.hasSuffix(".sh") || text.hasPrefix("#!/usr/bin/env bash\n") || text.hasPrefix("#!/bin/bash\n") {
                scripts.append("deploy/\(file)")
            }
        }
        for expected in ["deploy/lib.sh", "deploy/rolling", "deploy/rollback", "deploy/blue-green", "deploy/release", "deploy/switchboardctl"] {
            #expect(scripts.contains(expected), "\(expected) is checked")
        }
        let result = try await DeployFiles.run(shellcheck, scripts)
        #expect(result.status == 0, "shellcheck \(scripts.joined(separator: " ")):\n\(result.stdout)\(result.stderr)")
    }
}

/// The two releases the safety tests deploy, packed once per test run from
/// the debug build: `safety-1` by deploy/release --binary, `safety-2` the
/// same files with another VERSION (repacked with fast compression).
actor SafetyReleases {
    static let shared = SafetyReleases()
    private var packed: [String: String]?

    func tarballs() async throws -> [String: String] {
        if let packed { return packed }
        let dist = DeployFiles.url(".build/deploy-tests/safety-releases-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dist, withIntermediateDirectories: true)
        let first = try await DeployFiles.run(
            DeployFiles.url("deploy/release").path, ["--binary", SwitchboardProcess.binaryPath, "--version", "safety-1", "--dist", dist.path],
            timeout: .seconds(300)
        )
        guard first.status == 0, let path = first.stdout.split(separator: "\n").last.map(String.init), path.hasSuffix(".tar.gz") else {
            throw DeployTestError("deploy/release --binary failed:\n\(first.stdout)\(first.stderr)")
        }
        let second = dist.appendingPathComponent("switchboard-safety-2.tar.gz").path
        let repack = try await DeployFiles.run(
            "/bin/bash",
            ["-c", #"set -euo pipefail; d="$(mktemp -d)"; tar -xzf "$1" -C "$d"; echo safety-2 > "$d/VERSION"; tar -C "$d" -cf - VERSION bin etc | gzip -1 > "$2"; rm -rf "$d""#, "repack", path, second],
            timeout: .seconds(300)
        )
        guard repack.status == 0 else { throw DeployTestError("repacking safety-2 failed: \(repack.stderr)") }
        packed = ["safety-1": path, "safety-2": second]
        return packed!
    }
}
