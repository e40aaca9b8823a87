import Foundation
import Switchboard
import Testing
@testable import switchboard
@testable import SwitchboardTesting

/// The built `switchboard` executable: exit codes, error messages, the
/// sources of its settings, what it serves and how it stops.
@Suite(.timeLimit(.minutes(2)))
struct ServeCommandTests {
    /// A temporary YAML file holding `text`.
    private static func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func versionFlagPrintsTheVersion() async throws {
        let result = try await SwitchboardProcess.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == "0.1.0\n")
    }

    @Test(arguments: [
        (["serve", "--port", "-1"], [:],
         #"Error: invalid value "-1" for port (from --port): expected a whole number from 0 to 65535"#),
        (["serve", "--auth", "basic"], [:],
         #"Error: invalid value "basic" for auth (from --auth): expected one of: "# + ServeSettings.AuthMode.allCases.map(\.rawValue).joined(separator: ", ")),
        (["serve", "--auth", "none"], ["SWITCHBOARD_PUBSUB_ADAPTER": "pigeon"],
         #"Error: invalid value "pigeon" for pubsub.adapter (from SWITCHBOARD_PUBSUB_ADAPTER): expected one of: "# + ServeSettings.pubsubAdapters.joined(separator: ", ")),
        (["serve"], ["SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT": "soon"],
         #"Error: invalid value "soon" for limits.heartbeat_timeout (from SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT): expected a duration above zero and at most 24h, such as 60 (seconds), "60s", "2m" or "500ms""#),
        (["serve", "--config", "/nonexistent/switchboard.yaml"], [:],
         "Error: config file /nonexistent/switchboard.yaml (--config) does not exist"),
        (["serve"], ["SWITCHBOARD_CONFIG": "/nonexistent/switchboard.yaml"],
         "Error: config file /nonexistent/switchboard.yaml (SWITCHBOARD_CONFIG) does not exist"),
    ] as [([String], [String: String], String)])
    func badSettingsExitWithOneLine(arguments: [String], environment: [String: String], message: String) async throws {
        let result = try await SwitchboardProcess.run(arguments, environment: environment)
        #expect(result.status == 1)
        #expect(result.stderr == message + "\n")
        #expect(result.stdout == "")
    }

    @Test(arguments: [
        ("port: -5\n", #"invalid value "-5" for port (from port in PATH): expected a whole number from 0 to 65535"#),
        ("limits:\n  max_frame_size: 1 MB\n", #"invalid value "1 MB" for limits.max_frame_size (from limits.max_frame_size in PATH): expected a size in bytes from 1 to 4294967295, such as 1048576, "64KiB" or "1MiB""#),
        ("shutdown_grace_period: [1, 2]\n", "cannot read shutdown_grace_period (from shutdown_grace_period in PATH): expected a single value, not a list or a mapping"),
        ("- port\n- 4000\n", #"config file PATH (--config) is not valid YAML: expected a mapping of keys to values (such as "port: 4000")"#),
        ("port: [4000\n", "config file PATH (--config) is not valid YAML: line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence from line 1, column 7)"),
        ("a: b: c\n", "config file PATH (--config) is not valid YAML: line 1, column 5: mapping values are not allowed in this context"),
        ("port: 1\n\tbad: 2\n", "config file PATH (--config) is not valid YAML: line 2, column 1: found a tab character that violates indentation (while scanning a plain scalar from line 1, column 7)"),
        ("port: 4000\npubsub:\n  adaptor: redis\n", "config file PATH (--config) sets pubsub.adaptor, which is not a setting (did you mean pubsub.adapter?)"),
        ("limits:\n  max_frame_size: 1024\n  max_conections_per_address: 5\n", "config file PATH (--config) sets limits.max_conections_per_address, which is not a setting (did you mean limits.max_connections_per_address?)"),
        ("colour: blue\n", "config file PATH (--config) sets colour, which is not a setting"),
    ])
    func badConfigFilesExitWithOneLine(yaml: String, message: String) async throws {
        let path = try Self.configFile(yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await SwitchboardProcess.run(["serve", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr == "Error: " + message.replacingOccurrences(of: "PATH", with: path) + "\n")
    }

    @Test func servesTheDemoAndClosesSocketsWith1012OnSIGTERM() async throws {
        let path = try Self.configFile("""
            # comments and nested keys
            port: 4999            # overridden by --port
            node_name: from-file  # overridden by SWITCHBOARD_NODE_NAME, then by --node
            api_key: file-key
            socket_path: /live
            limits:
              heartbeat_timeout: 30s
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try SwitchboardProcess(
            ["serve", "--config", path, "--auth", "none", "--port", "0", "--node", "from-flag"],
            environment: ["SWITCHBOARD_NODE_NAME": "from-env", "SWITCHBOARD_API_KEY": "env-key"]
        )
        let port = try await server.listeningPort()
        #expect(server.stderr.contains("auth: none accepts every connection"))
        #expect(server.stderr.contains("node from-flag listening on http://127.0.0.1:\(port) (sockets: /live/websocket), pubsub local"))

        let health = try await PlainHTTP.request(port: port, path: "/healthz")
        #expect(health.status == 200)
        #expect(health.body.contains(#""node":"from-flag""#))

        let page = try await PlainHTTP.request(port: port, path: "/")
        #expect(page.status == 200)
        #expect(page.head.lowercased().contains("content-type: text/html; charset=utf-8"))
        #expect(page.body.contains(#"const SOCKET_PATH = "/live";"#))
        #expect(!page.body.contains("<script src"))

        let denied = try await PlainHTTP.request(
            port: port, method: "POST", path: "/api/broadcast", headers: ["Authorization": "Bearer file-key"],
            body: #"{"topic":"room:lobby","event":"shout","payload":{}}"#
        )
        #expect(denied.status == 401)

        let socket = try await RawWebSocket.connect(port: port, path: "/live/websocket?vsn=2.0.0&user_id=7")
        defer { socket.close() }
        try await socket.send(#"["1","1","room:lobby","phx_join",{}]"#)
        #expect(try await socket.receiveText() == #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#)

        let published = try await PlainHTTP.request(
            port: port, method: "POST", path: "/api/broadcast", headers: ["Authorization": "Bearer env-key"],
            body: #"{"topic":"room:lobby","event":"news","payload":{"n":1}}"#
        )
        #expect(published.status == 202)
        #expect(try await socket.receiveText() == #"[null,null,"room:lobby","news",{"n":1}]"#)

        server.terminate()
        #expect(try await socket.receive() == .close(code: 1012))
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
        #expect(server.stderr.contains("switchboard stopped"))
    }

    @Test func fileSettingsApplyWhenNothingOverridesThem() async throws {
        let path = try Self.configFile("port: 0\nnode_name: from-file\nauth: none\nlog_level: notice\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try SwitchboardProcess(["serve"], environment: ["SWITCHBOARD_CONFIG": path])
        let port = try await server.listeningPort()
        let health = try await PlainHTTP.request(port: port, path: "/healthz")
        #expect(health.body.contains(#""node":"from-file""#))
        // Notice level: the info line about the disabled broadcast API is not logged.
        #expect(!server.stderr.contains("POST /api/broadcast is disabled"))
        let disabled = try await PlainHTTP.request(port: port, method: "POST", path: "/api/broadcast", body: "{}")
        #expect(disabled.status == 403)
        server.terminate()
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
    }

    /// A shell's default soft limit (often 1,024) would cap the connections
    /// far below what the machine allows: `serve` raises it to the hard limit.
    @Test func serveRaisesItsOpenFileLimitToTheHardLimit() async throws {
        let server = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0"],
            launcher: ["/usr/bin/prlimit", "--nofile=256:"]
        )
        _ = try await server.listeningPort()
        let limits = try String(contentsOfFile: "/proc/\(server.pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[0] == numbers[1] && numbers[0] > 256, "\(line)")
        #expect(server.stderr.contains("open-file limit \(numbers[0]) (raised from 256)"))
        server.terminate()
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func redisTLSFlagsReachTheAdapterAndABadFileStopsTheStart() async throws {
        let result = try await SwitchboardProcess.run(
            ["serve", "--auth", "none", "--port", "0", "--adapter", "redis", "--redis-url", "rediss://127.0.0.1:1", "--redis-tls-ca-file", "/nonexistent/ca.pem"],
            environment: ["SWITCHBOARD_PUBSUB_REDIS_PASSWORD": "s3cret-in-env"]
        )
        #expect(result.status == 1)
        #expect(
            result.stderr.hasSuffix("Error: cannot start the Redis adapter (pubsub.redis.url from --redis-url): invalid Redis adapter configuration: CA file (tls.ca_file) /nonexistent/ca.pem: no such file or directory\n"),
            "\(result.stderr)"
        )
        #expect(!result.stderr.contains("s3cret-in-env") && !result.stdout.contains("s3cret-in-env"))

        let insecure = try await SwitchboardProcess.run(["serve", "--auth", "none"], environment: ["SWITCHBOARD_PUBSUB_REDIS_TLS_INSECURE": "maybe"])
        #expect(insecure.status == 1)
        #expect(insecure.stderr == #"Error: invalid value "maybe" for pubsub.redis.tls.insecure (from SWITCHBOARD_PUBSUB_REDIS_TLS_INSECURE): expected true or false"# + "\n")
    }

    @Test func aMisspelledEnvironmentVariableIsReported() async throws {
        let server = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0"],
            environment: ["SWITCHBOARD_PUBSUB_ADAPTOR": "redis", "SWITCHBOARD_HAPROXY_SOCKET": "/run/haproxy.sock"]
        )
        _ = try await server.listeningPort()
        #expect(server.stderr.contains("environment variable SWITCHBOARD_PUBSUB_ADAPTOR is not a setting and is ignored (did you mean SWITCHBOARD_PUBSUB_ADAPTER?)"))
        #expect(!server.stderr.contains("SWITCHBOARD_HAPROXY_SOCKET"), "a variable far from every setting is left alone")
        server.terminate()
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func aBusyPortIsOneClearLine() async throws {
        let first = try SwitchboardProcess(["serve", "--auth", "none", "--port", "0"])
        let port = try await first.listeningPort()
        let second = try await SwitchboardProcess.run(["serve", "--auth", "none", "--port", "\(port)"])
        #expect(second.status == 1)
        #expect(second.stderr.hasSuffix("Error: cannot serve the public listener on 127.0.0.1:\(port): the address is already in use (is another server running?)\n"))
        first.terminate()
        #expect(try await first.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func aBusyAdminPortIsNamedAsTheAdminPort() async throws {
        let first = try SwitchboardProcess(["serve", "--auth", "none", "--port", "0", "--admin-port", "0"], environment: ["SWITCHBOARD_ADMIN_TOKEN": "0123456789abcdef0123"])
        _ = try await first.listeningPort()
        let adminPort = try #require(first.stderr.firstMatch(of: /admin API listening on http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) })
        let second = try await SwitchboardProcess.run(
            ["serve", "--auth", "none", "--port", "0", "--admin-port", "\(adminPort)"], environment: ["SWITCHBOARD_ADMIN_TOKEN": "0123456789abcdef0123"]
        )
        #expect(second.status == 1)
        #expect(second.stderr.hasSuffix("Error: cannot serve the admin API on 127.0.0.1:\(adminPort): the address is already in use (is another server running?)\n"))
        first.terminate()
        #expect(try await first.waitForExit(timeout: .seconds(15)) == 0)
    }
}
