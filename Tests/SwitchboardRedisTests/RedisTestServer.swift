#if canImport(Glibc)
import Glibc
#endif
import Switchboard
import SwitchboardTesting
import Foundation

/// A real `redis-server` for one test: started on a free loopback port with
/// persistence off, checked with PING, and killed at the end. Tests fail (not
/// skip) when redis-server is not installed.
final class RedisTestServer: @unchecked Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "redis-server is not installed (or not on PATH); install it with: apt-get install redis-server redis-tools"
        }
    }

    struct NotStarting: Error, CustomStringConvertible {
        var description: String
        /// The process exited at once (most often: its port was taken).
        var exited = false
    }

    /// A TLS-only server's files (`--port 0 --tls-port …`).
    struct TLS {
        var certificateFile: String
        var keyFile: String
        var caFile: String
        /// `--tls-auth-clients yes`: clients must present a certificate the CA signed.
        var authClients = false
    }

    let port: Int
    let password: String?
    /// ACL users, each the words of a `user` directive: `["app", "on", ">pw", "+ping"]`.
    let users: [[String]]
    let tls: TLS?
    /// More `redis-server` options (`--replicaof …`).
    let extraArguments: [String]
    private let lock = NSLock()
    private var process: ChildProcess?

    private init(port: Int, password: String?, users: [[String]] = [], tls: TLS? = nil, extraArguments: [String] = []) {
        self.extraArguments = extraArguments
        self.port = port
        self.password = password
        self.users = users
        self.tls = tls
    }

    /// Starts a server; `password` sets `--requirepass`, `users` adds ACL
    /// users, `tls` makes it TLS-only on ``port``; `arguments` are more options.
    /// `port` is a free one unless given.
    static func start(
        port: Int? = nil, password: String? = nil, users: [[String]] = [], tls: TLS? = nil, arguments: [String] = []
    ) async throws -> RedisTestServer {
        func launched(on port: Int) async throws -> RedisTestServer {
            let server = RedisTestServer(port: port, password: password, users: users, tls: tls, extraArguments: arguments)
            try await server.launch()
            return server
        }
        if let port { return try await launched(on: port) }
        return try await onFreePort(launched)
    }

    /// Runs `start` with a free port, and again with another (3 tries in
    /// all) when what it started exited at once: a port found free can be
    /// bound by another test's server before the one started here binds it.
    static func onFreePort<T>(_ start: (Int) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await start(try freePort())
            } catch let error as NotStarting where error.exited && attempt < 3 {
                attempt += 1
            }
        }
    }

    /// `redis://[:password@]127.0.0.1:<port>`.
    var url: String {
        if let password { return "redis://:\(password)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    static var executable: URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("redis-server")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Starts the process on ``port`` and waits until it answers PING.
    func launch() async throws {
        guard let executable = Self.executable else { throw Missing() }
        var arguments = [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
        ]
        if let tls {
            arguments += [
                "--port", "0", "--tls-port", "\(port)", "--tls-cert-file", tls.certificateFile, "--tls-key-file", tls.keyFile,
                "--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", tls.authClients ? "yes" : "no",
            ]
        } else {
            arguments += ["--port", "\(port)"]
        }
        if let password { arguments += ["--requirepass", password] }
        for user in users { arguments += ["--user"] + user }
        arguments += extraArguments
        let process = try ChildProcess(
            executable: executable.path, arguments: arguments, standardOutput: .nullDevice, standardError: .nullDevice
        )
        lock.withLock { self.process = process }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let termination = process.termination {
                throw NotStarting(description: "redis-server exited with status \(termination.status) on port \(port)", exited: true)
            }
            if tls != nil {
                // TLS only: listening is as far as a plain socket can tell.
                if Self.accepts(port: port) { return }
            } else if let reply = try? command(["PING"]), reply.hasPrefix("+PONG") || reply.hasPrefix("-NOAUTH") {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NotStarting(description: "redis-server on port \(port) did not answer PING within 10 s")
    }

    /// Whether the process was started and not killed.
    var isRunning: Bool {
        lock.withLock { process != nil }
    }

    /// Kills the process with SIGKILL, as a crash would.
    func kill() {
        guard let process = lock.withLock({ () -> ChildProcess? in
            defer { self.process = nil }
            return self.process
        }) else { return }
        process.kill()
        process.waitUntilExit()
    }

    /// Stops the process with SIGSTOP: its connections stay open, and nothing
    /// on them is answered until ``resume()``.
    func pause() {
        lock.withLock { process }?.send(signal: SIGSTOP)
    }

    /// Lets a paused process go on (SIGCONT).
    func resume() {
        lock.withLock { process }?.send(signal: SIGCONT)
    }

    /// Kills the process (tests end with this).
    func stop() {
        kill()
    }

    deinit {
        kill()
    }

    /// Sends one command (authenticated when needed) on a new connection and
    /// returns the first line of the reply, `+PONG` or `:1`.
    @discardableResult
    func command(_ arguments: [String]) throws -> String {
        let socket = try TestSocket(port: port)
        var request = ""
        if let password {
            request += Self.resp(["AUTH", password])
        }
        request += Self.resp(arguments)
        try socket.send(request)
        var lines = try socket.readLines(count: password == nil ? 1 : 2)
        return lines.removeLast()
    }

    /// Runs `redis-cli` with `arguments` against this (plain) server, as the
    /// default user, waiting without blocking a thread; throws on an error reply.
    func cli(_ arguments: [String]) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cli-\(port)-\(UInt32.random(in: 0 ... .max)).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = ["-h", "127.0.0.1", "-p", "\(port)"]
        if let password { options += ["-a", password, "--no-auth-warning"] }
        let process = try ChildProcess(
            executable: "/usr/bin/redis-cli", arguments: options + arguments,
            standardInput: .nullDevice, standardOutput: .file(log), standardError: .file(log)
        )
        let deadline = ContinuousClock.now + .seconds(10)
        while process.termination == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard process.termination == .exited(0), !output.hasPrefix("ERR"), !output.hasPrefix("NOPERM"), !output.hasPrefix("(error)") else {
            process.kill()
            throw NotStarting(description: "redis-cli \(arguments.joined(separator: " ")) failed: \(output)")
        }
    }

    /// Whether something listens on `port` (a loopback connect does not wait).
    static func accepts(port: Int) -> Bool {
        do {
            _ = try TestSocket(port: port)
            return true
        } catch {
            return false
        }
    }

    private static func resp(_ arguments: [String]) -> String {
        "*\(arguments.count)\r\n" + arguments.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    /// A loopback port nothing listens on right now.
    static func freePort() throws -> Int {
        guard let port = LoopbackPort.free() else { throw NotStarting(description: "cannot find a free port") }
        return port
    }
}
