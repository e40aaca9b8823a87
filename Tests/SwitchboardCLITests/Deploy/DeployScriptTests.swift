import Foundation
import Testing

/// The deploy scripts without a cluster: syntax, inventory parsing, and the
/// ssh mode's command wrapping (with `DEPLOY_SSH` standing in for ssh). The
/// scripts themselves run end to end in ``DeployEndToEndTests``.
@Suite("Deploy scripts")
struct DeployScriptTests {
    static let scripts = ["deploy/rolling", "deploy/rollback", "deploy/blue-green"]

    @Test("the deploy scripts are strict, executable bash that source deploy/lib.sh")
    func syntax() async throws {
        for path in Self.scripts + ["deploy/lib.sh"] {
            let script = try DeployFiles.text(path)
            let check = try await DeployFiles.run("/bin/bash", ["-n", path])
            #expect(check.status == 0, "bash -n \(path): \(check.stderr)")
            guard path != "deploy/lib.sh" else { continue }
            #expect(DeployFiles.isExecutable(path), "\(path) is executable")
            #expect(script.contains("\nset -euo pipefail\n"), "\(path) is strict")
            #expect(script.contains(#"source "$(dirname "${BASH_SOURCE[0]}")/lib.sh""#), "\(path) shares deploy/lib.sh")
        }
        let usage = try await DeployFiles.run(DeployFiles.url("deploy/rolling").path, [])
        #expect(usage.status == 2 && usage.stderr.contains("deploy/rolling"), "no argument: usage and exit 2")
    }

    /// Runs `body` in bash after sourcing deploy/lib.sh with `inventory`.
    private func lib(_ body: String, inventory: String, environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-inventory-\(UUID().uuidString)")
        try inventory.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var environment = environment
        environment["DEPLOY_INVENTORY"] = file.path
        return try await DeployFiles.run("/bin/bash", ["-c", "set -euo pipefail; source deploy/lib.sh; \(body)"], environment: environment)
    }

    @Test("the inventory is parsed, and bad lines are refused with their line number")
    func inventory() async throws {
        let good = """
            # name host port admin colour dir
            blue1   10.0.0.1  4001  4101  blue   /srv/sb/blue1

            green1  10.0.0.2  4001  4101  green  /srv/sb/green1   # comment
            """
        let parsed = try await lib(#"load_inventory; for n in "${INSTANCES[@]}"; do echo "$n ${I_HOST[$n]} ${I_PORT[$n]} ${I_ADMIN[$n]} ${I_COLOUR[$n]} ${I_DIR[$n]}"; done; instances_of green"#, inventory: good)
        #expect(parsed.status == 0, "\(parsed.stderr)")
        #expect(parsed.stdout == "blue1 10.0.0.1 4001 4101 blue /srv/sb/blue1\ngreen1 10.0.0.2 4001 4101 green /srv/sb/green1\ngreen1\n")

        for (line, problem) in [
            ("blue1 10.0.0.1 4001 4101 blue", "expected: name host port admin_port colour release_dir"),
            ("blue1 10.0.0.1 4001 4101 red /srv/x", "colour must be blue or green"),
            ("blue1 10.0.0.1 http 4101 blue /srv/x", "ports must be numbers"),
            ("blue1 10.0.0.1 4001 4101 blue srv/x", "release_dir must be absolute"),
        ] {
            let refused = try await lib("load_inventory", inventory: "# header\n\(line)\n")
            #expect(refused.status != 0)
            #expect(refused.stderr.contains(":2: \(problem)"), "\(line): \(refused.stderr)")
        }
        let twice = try await lib("load_inventory", inventory: "a h 1 2 blue /x\na h 1 2 blue /y\n")
        #expect(twice.stderr.contains("listed twice"))
    }

    @Test("ssh mode runs every step in the instance's folder on its host")
    func sshMode() async throws {
        let inventory = "blue1 app-1.example.net 4001 4101 blue /srv/switchboard/blue1\n"
        // DEPLOY_SSH=echo prints what ssh would be given: the host, then one remote command.
        let wrapped = try await lib(
            #"load_inventory; on_host blue1 current/bin/switchboardctl status; admin_url blue1"#,
            inventory: inventory, environment: ["DEPLOY_MODE": "ssh", "DEPLOY_SSH": "echo"]
        )
        #expect(wrapped.status == 0, "\(wrapped.stderr)")
        let lines = wrapped.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("app-1.example.net bash -c ") == true, "\(wrapped.stdout)")
        #expect(lines.first?.contains("/srv/switchboard/blue1") == true && lines.first?.contains("switchboardctl") == true)
        #expect(lines.last == "http://127.0.0.1:4101", "the admin API is reached on the host's loopback")

        let bad = try await lib("load_inventory", inventory: inventory, environment: ["DEPLOY_MODE": "telnet"])
        #expect(bad.status != 0 && bad.stderr.contains("DEPLOY_MODE must be local or ssh"))
    }
}
