#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Switchboard
import SwitchboardTesting

/// A real `haproxy` for one test: `balance leastconn` (or another) over the given
/// backends with `/readyz` health checks, its runtime API on a unix socket,
/// killed at the end. Tests fail (not skip) when haproxy is not installed.
final class HAProxyTestServer: @unchecked Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "haproxy is not installed (or not on PATH); install it with: apt-get install haproxy" }
    }

    let port: Int
    let directory: URL
    /// The backend whose servers ``enable(_:)`` and ``isUp(_:)`` name.
    let backend: String
    private let process: ChildProcess

    var runtimeSocket: String { directory.appendingPathComponent("admin.sock").path }

    private init(port: Int, directory: URL, process: ChildProcess, backend: String) {
        self.port = port
        self.directory = directory
        self.process = process
        self.backend = backend
    }

    /// Starts haproxy in front of `servers` (name and port); the ones named in
    /// `disabled` start in maintenance, to be added with ``enable(_:)``.
    /// `balance` is haproxy's algorithm (`roundrobin`: each request to the next server).
    static func start(servers: [(name: String, port: Int)], disabled: Set<String> = [], balance: String = "leastconn") async throws -> HAProxyTestServer {
        try await RedisTestServer.onFreePort { port in try await start(servers: servers, disabled: disabled, balance: balance, port: port) }
    }

    private static func start(servers: [(name: String, port: Int)], disabled: Set<String>, balance: String, port: Int) async throws -> HAProxyTestServer {
        let directory = try makeDirectory()
        let serverLines = servers.map { server in
            "    server \(server.name) 127.0.0.1:\(server.port) check inter 200ms fall 2 rise 1\(disabled.contains(server.name) ? " disabled" : "")"
        }
        let configuration = """
            global
                maxconn 4000
                stats socket \(directory.appendingPathComponent("admin.sock").path) mode 600 level admin
            defaults
                mode http
                timeout connect 2s
                timeout client 30s
                timeout server 30s
                timeout tunnel 1h
            frontend switchboard
                bind 127.0.0.1:\(port)
                default_backend \(generatedBackend)
            backend \(generatedBackend)
                balance \(balance)
                option httpchk GET /readyz
            \(serverLines.joined(separator: "\n"))

            """
        let file = directory.appendingPathComponent("haproxy.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        return try await launch(file: file, port: port, directory: directory, environment: nil, backend: generatedBackend)
    }

    /// Starts haproxy with the repository's own `haproxy.cfg`, and points its
    /// blue slots named in `slots` at the given ports and makes them ready, as
    /// the deploy scripts do through the runtime API.
    static func startRepositoryConfiguration(slots: [(name: String, port: Int)]) async throws -> HAProxyTestServer {
        try await RedisTestServer.onFreePort { port in try await startRepositoryConfiguration(slots: slots, port: port) }
    }

    private static func startRepositoryConfiguration(slots: [(name: String, port: Int)], port: Int) async throws -> HAProxyTestServer {
        let directory = try makeDirectory()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHBOARD_HTTP_BIND"] = "127.0.0.1"
        environment["SWITCHBOARD_HTTP_PORT"] = "\(port)"
        environment["SWITCHBOARD_STATS_PORT"] = "\(try RedisTestServer.freePort())"
        environment["SWITCHBOARD_HAPROXY_SOCKET"] = directory.appendingPathComponent("admin.sock").path
        environment["SWITCHBOARD_ACTIVE_MAP"] = root.appendingPathComponent("deploy/haproxy/active.map").path
        environment["SWITCHBOARD_CHECK_INTERVAL"] = "200ms"
        let server = try await launch(
            file: root.appendingPathComponent("haproxy.cfg"), port: port, directory: directory, environment: environment, backend: "blue"
        )
        do {
            for slot in slots {
                _ = try server.runtime("set server blue/\(slot.name) addr 127.0.0.1 port \(slot.port)")
                _ = try server.runtime("set server blue/\(slot.name) state ready")
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while try !slots.allSatisfy({ try server.isUp($0.name) }) {
                guard ContinuousClock.now < deadline else { throw RedisTestServer.NotStarting(description: "haproxy's slots did not come up within 10 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// The backend of the configuration ``start(servers:disabled:balance:)`` writes.
    private static let generatedBackend = "nodes"

    private static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-haproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs haproxy with `file` and waits until it listens on `port` and answers on its runtime API.
    private static func launch(file: URL, port: Int, directory: URL, environment: [String: String]?, backend: String) async throws -> HAProxyTestServer {
        guard let executable = ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw Missing() }
        let log = directory.appendingPathComponent("haproxy.log")
        let process = try ChildProcess(
            executable: executable, arguments: ["-db", "-f", file.path], environment: environment,
            standardOutput: .file(log.path), standardError: .file(log.path)
        )
        let server = HAProxyTestServer(port: port, directory: directory, process: process, backend: backend)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let termination = process.termination {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                let configuration = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                throw RedisTestServer.NotStarting(
                    description: "haproxy exited with status \(termination.status): \(output)\nconfiguration:\n\(configuration)", exited: true
                )
            }
            if (try? TestSocket(port: port)) != nil, (try? server.runtime("show info")) != nil { return server }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.stop()
        throw RedisTestServer.NotStarting(description: "haproxy did not listen on \(port) within 10 s")
    }

    /// Takes a server out of maintenance; health checks then bring it up.
    func enable(_ name: String) throws {
        _ = try runtime("enable server \(backend)/\(name)")
    }

    /// Whether the health checks see `name` up.
    func isUp(_ name: String) throws -> Bool {
        // `show stat` CSV: pxname,svname,…,status (18th field),…
        try runtime("show stat").split(separator: "\n").contains { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return fields.count > 17 && fields[0] == backend && fields[1] == name && fields[17] == "UP"
        }
    }

    /// Sends one command to the runtime API and returns its answer.
    func runtime(_ command: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisTestServer.NotStarting(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(runtimeSocket.utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.prefix(raw.count - 1).map { UInt8(bitPattern: $0) })
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        guard connected else { throw RedisTestServer.NotStarting(description: "cannot reach the haproxy runtime API") }
        let request = Array((command + "\n").utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    func stop() {
        if process.kill() {
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        stop()
    }
}
