import Foundation
import Testing
@testable import SwitchboardTesting

@Suite("HAProxy configuration")
struct HAProxyConfigTests {
    @Test("haproxy -c accepts haproxy.cfg, with its defaults and with overridden ports")
    func validates() async throws {
        guard let haproxy = DeployFiles.which("haproxy") else {
            Issue.record("haproxy is not installed: run scripts/test (it installs it) or apt-get install haproxy")
            return
        }
        let plain = try await DeployFiles.run(haproxy, ["-c", "-f", "haproxy.cfg"])
        #expect(plain.status == 0, "haproxy -c -f haproxy.cfg:\n\(plain.stdout)\(plain.stderr)")

        let overridden = try await DeployFiles.run(
            haproxy, ["-c", "-f", DeployFiles.url("haproxy.cfg").path],
            environment: [
                "SWITCHBOARD_HTTP_PORT": "18080", "SWITCHBOARD_STATS_PORT": "18404",
                "SWITCHBOARD_HAPROXY_SOCKET": "/tmp/switchboard-haproxy-test.sock",
                "SWITCHBOARD_ACTIVE_MAP": DeployFiles.url("deploy/haproxy/active.map").path,
            ],
            directory: FileManager.default.temporaryDirectory
        )
        #expect(overridden.status == 0, "haproxy -c with overrides:\n\(overridden.stdout)\(overridden.stderr)")

        let broken = try await DeployFiles.run(
            haproxy, ["-c", "-f", "haproxy.cfg"], environment: ["SWITCHBOARD_HTTP_PORT": "not-a-port"]
        )
        #expect(broken.status != 0, "the port must come from SWITCHBOARD_HTTP_PORT")
    }

    @Test("haproxy.cfg has what a zero-downtime deploy needs")
    func contents() throws {
        let config = try DeployFiles.text("haproxy.cfg")
        let lines = config.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        func has(_ prefix: String) -> Bool { lines.contains { $0.hasPrefix(prefix) } }
        #expect(has("timeout tunnel 1h"))
        #expect(lines.filter { $0 == "balance leastconn" }.count == 2)
        #expect(lines.filter { $0 == "option httpchk GET /readyz" }.count == 2)
        #expect(lines.filter { $0 == "http-check expect status 200" }.count == 2)
        #expect(has("option forwardfor"))
        #expect(has("http-request set-header X-Forwarded-Proto"))
        #expect(has("backend blue") && has("backend green"))
        #expect(has("server-template blue ") && has("server-template green "))
        #expect(has("stats socket ") && config.contains("level admin"))
        #expect(has("use_backend %[str(active),map("))
        #expect(has("presetenv SWITCHBOARD_HTTP_PORT "))
        #expect(has(#"bind "${SWITCHBOARD_HTTP_BIND}:${SWITCHBOARD_HTTP_PORT}""#))
        #expect(!lines.contains { $0.contains("on-marked-down shutdown-sessions") }, "a draining node must keep its sockets")
        #expect(has("http-request deny deny_status 403 if { path,lower -m beg /metrics }"))
        let map = try DeployFiles.text("deploy/haproxy/active.map")
        #expect(map.split(separator: "\n").contains("active blue"))
    }

    @Test("haproxy.cfg refuses /metrics from outside and passes other paths on to the backends")
    func refusesMetrics() async throws {
        guard let haproxy = DeployFiles.which("haproxy") else {
            Issue.record("haproxy is not installed: run scripts/test (it installs it) or apt-get install haproxy")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let mapPath = directory.appendingPathComponent("active.map").path
        try "active blue\n".write(toFile: mapPath, atomically: true, encoding: .utf8)
        let (httpPort, statsPort) = try { let ports = try LoopbackPorts.free(2); return (ports[0], ports[1]) }()
        let process = try BackgroundProcess(
            name: "haproxy", haproxy, ["-db", "-f", DeployFiles.url("haproxy.cfg").path],
            environment: [
                "SWITCHBOARD_HTTP_BIND": "127.0.0.1", "SWITCHBOARD_HTTP_PORT": "\(httpPort)",
                "SWITCHBOARD_STATS_PORT": "\(statsPort)",
                "SWITCHBOARD_HAPROXY_SOCKET": directory.appendingPathComponent("haproxy.sock").path,
                "SWITCHBOARD_ACTIVE_MAP": mapPath,
                "SWITCHBOARD_HAPROXY_LOG": directory.appendingPathComponent("haproxy.log").path,
            ],
            directory: directory
        )
        defer { process.kill() }
        try await LoopbackPorts.waitUntilAnswering(httpPort, what: "haproxy (\(process.stderr))")
        // Every slot is in maintenance: a request that gets past the frontend
        // ends in 503, one the frontend refuses in 403.
        #expect(try await PlainHTTP.request(port: httpPort, path: "/healthz").status == 503)
        for path in ["/metrics", "/metrics?format=text", "/METRICS", "/metrics/"] {
            #expect(try await PlainHTTP.request(port: httpPort, path: path).status == 403, "GET \(path)")
        }
        #expect(try await PlainHTTP.request(port: httpPort, method: "POST", path: "/metrics").status == 403)
    }
}
