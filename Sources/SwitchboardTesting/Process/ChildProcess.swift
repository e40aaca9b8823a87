#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSwitchboardShims
import Synchronization

/// A child process started with `posix_spawn`, for the bench and the tests.
///
/// It exists instead of `Foundation.Process`, whose `run()` on Linux (Swift
/// 6.3.1's swift-corelibs-foundation, fixed upstream by PR #5472) now and
/// then dies of SIGSEGV: looking for the highest open descriptor, it copies
/// the whole 256-byte `d_name` of each /proc/self/fd entry and so reads past
/// glibc's readdir buffer, which can end at an unmapped page.
///
/// The child gets descriptors 0, 1 and 2 only (the accepted sockets of a
/// NIO server in the same process are not close-on-exec) and runs in its
/// own process group, as with `Foundation.Process`. It starts with no signal
/// blocked, whichever thread spawned it, and inherits the ignored ones. The
/// executable is a path: there is no PATH search.
package final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    package enum Stream: Sendable {
        /// The parent's own descriptor.
        case inherit
        /// /dev/null.
        case nullDevice
        /// A file, created or truncated for output; read for standard input.
        /// Standard output and error naming the same path share one descriptor.
        case file(String)
        /// A pipe whose other end the parent reads (output) or writes (input).
        case pipe
    }

    /// How the child ended.
    package enum Termination: Sendable, Equatable {
        /// It exited with this code.
        case exited(Int32)
        /// A signal killed it.
        case signalled(Int32)

        /// The exit code, or the number of the signal that killed it (what
        /// `Foundation.Process.terminationStatus` reports).
        package var status: Int32 {
            switch self {
            case .exited(let code), .signalled(let code): code
            }
        }

        /// Decodes a `waitpid` status (Linux and Darwin encode it alike).
        init(waitStatus: Int32) {
            let signal = waitStatus & 0x7f
            self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signalled(signal)
        }
    }

    /// Why the child could not be started.
    package struct SpawnError: Error, CustomStringConvertible {
        package let executable: String
        package let step: String
        package let errorNumber: Int32

        package var description: String {
            "cannot run \(executable): \(step) failed: \(String(cString: strerror(errorNumber))) (errno \(errorNumber))"
        }
    }

    /// A read or write on a ``PipeEnd`` that failed.
    package struct PipeError: Error, CustomStringConvertible {
        package let operation: String
        package let errorNumber: Int32

        package var description: String {
            "\(operation) on a child's pipe failed: \(String(cString: strerror(errorNumber))) (errno \(errorNumber))"
        }
    }

    /// The parent's end of a pipe to the child's standard input or from its
    /// output; closed by ``close()`` or when released.
    package final class PipeEnd: Sendable {
        private let fileDescriptor: Int32
        private let closed = Atomic<Bool>(false)

        init(_ fileDescriptor: Int32) {
            self.fileDescriptor = fileDescriptor
        }

        deinit { close() }

        /// Writes all of `bytes`; throws on an error such as a closed reader.
        package func write(_ bytes: some Sequence<UInt8>) throws {
            let bytes = Array(bytes)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { raw in
                    #if canImport(Glibc)
                    Glibc.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                    #else
                    Darwin.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                    #endif
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw PipeError(operation: "write", errorNumber: errno)
                }
                offset += written
            }
        }

        /// Reads until the other end is closed (the child exited or closed it).
        package func readToEnd() throws -> [UInt8] {
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { raw in
                    #if canImport(Glibc)
                    Glibc.read(fileDescriptor, raw.baseAddress, raw.count)
                    #else
                    Darwin.read(fileDescriptor, raw.baseAddress, raw.count)
                    #endif
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw PipeError(operation: "read", errorNumber: errno)
                }
                if count == 0 { return result }
                result += buffer[..<count]
            }
        }

        /// Closes this end (once; later calls do nothing).
        package func close() {
            guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
            #if canImport(Glibc)
            _ = Glibc.close(fileDescriptor)
            #else
            _ = Darwin.close(fileDescriptor)
            #endif
        }
    }

    /// The child's process id.
    package let pid: pid_t
    /// The write end of the child's standard input, when it is a ``Stream/pipe``.
    package let standardInput: PipeEnd?
    /// The read end of the child's standard output, when it is a ``Stream/pipe``.
    package let standardOutput: PipeEnd?
    /// The read end of the child's standard error, when it is a ``Stream/pipe``.
    package let standardError: PipeEnd?

    /// Set once the child is reaped; reaping happens only under this lock, so
    /// a signal sent under it never reaches a reused process id.
    private let reaped = Mutex<Termination?>(nil)

    /// Starts `executable` (a path) with `arguments` (not counting the
    /// program name), `environment` (the parent's when nil) and `directory`
    /// as its working directory (the parent's when nil).
    package init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String]? = nil,
        directory: String? = nil,
        standardInput: Stream = .inherit,
        standardOutput: Stream = .inherit,
        standardError: Stream = .inherit
    ) throws {
        func failure(_ step: String, _ errorNumber: Int32) -> SpawnError {
            SpawnError(executable: executable, step: step, errorNumber: errorNumber)
        }

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        var code = posix_spawn_file_actions_init(&actions)
        guard code == 0 else { throw failure("posix_spawn_file_actions_init", code) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        code = posix_spawnattr_init(&attributes)
        guard code == 0 else { throw failure("posix_spawnattr_init", code) }
        defer { posix_spawnattr_destroy(&attributes) }

        // Descriptors the parent opens for the child; closed once it has started.
        var childDescriptors: [Int32] = []
        var parentEnds: [PipeEnd] = []
        var files: [String: Int32] = [:]
        defer { for descriptor in childDescriptors { _ = close(descriptor) } }

        func redirect(_ stream: Stream, to target: Int32) throws -> PipeEnd? {
            let isInput = target == STDIN_FILENO
            switch stream {
            case .inherit:
                #if canImport(Darwin)
                // POSIX_SPAWN_CLOEXEC_DEFAULT closes what is not named.
                code = posix_spawn_file_actions_addinherit_np(&actions, target)
                guard code == 0 else { throw failure("posix_spawn_file_actions_addinherit_np", code) }
                #endif
                return nil
            case .nullDevice:
                code = posix_spawn_file_actions_addopen(&actions, target, "/dev/null", isInput ? O_RDONLY : O_WRONLY, 0)
                guard code == 0 else { throw failure("posix_spawn_file_actions_addopen", code) }
                return nil
            case .file(let path):
                let descriptor: Int32
                if let opened = files[path], !isInput {
                    descriptor = opened
                } else {
                    let flags = isInput ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                    descriptor = open(path, flags | O_CLOEXEC, 0o644)
                    guard descriptor >= 0 else { throw failure("open \(path)", errno) }
                    childDescriptors.append(descriptor)
                    if !isInput { files[path] = descriptor }
                }
                code = posix_spawn_file_actions_adddup2(&actions, descriptor, target)
                guard code == 0 else { throw failure("posix_spawn_file_actions_adddup2", code) }
                return nil
            case .pipe:
                // Close-on-exec, so that no other child started meanwhile
                // keeps an end open (pipe2 needs _GNU_SOURCE; every spawn
                // here closes descriptors from 3 on anyway).
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { throw failure("pipe", errno) }
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let (childEnd, parentEnd) = isInput ? (ends[0], ends[1]) : (ends[1], ends[0])
                childDescriptors.append(childEnd)
                let end = PipeEnd(parentEnd)
                parentEnds.append(end)
                code = posix_spawn_file_actions_adddup2(&actions, childEnd, target)
                guard code == 0 else { throw failure("posix_spawn_file_actions_adddup2", code) }
                return end
            }
        }

        let input = try redirect(standardInput, to: STDIN_FILENO)
        let output = try redirect(standardOutput, to: STDOUT_FILENO)
        let error = try redirect(standardError, to: STDERR_FILENO)

        // An empty signal mask: the threads of Swift's concurrency pool block
        // most signals (SIGTERM among them), and a child would inherit that.
        var flags = Int32(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        code = posix_spawnattr_setsigmask(&attributes, &noSignals)
        guard code == 0 else { throw failure("posix_spawnattr_setsigmask", code) }
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #else
        code = switchboard_spawn_addclosefrom(&actions, 3)
        guard code == 0 else { throw failure("posix_spawn_file_actions_addclosefrom_np", code) }
        #endif
        code = posix_spawnattr_setflags(&attributes, Int16(flags))
        guard code == 0 else { throw failure("posix_spawnattr_setflags", code) }
        code = posix_spawnattr_setpgroup(&attributes, 0)
        guard code == 0 else { throw failure("posix_spawnattr_setpgroup", code) }

        if let directory {
            #if canImport(Darwin)
            code = posix_spawn_file_actions_addchdir_np(&actions, directory)
            #else
            code = switchboard_spawn_addchdir(&actions, directory)
            #endif
            guard code == 0 else { throw failure("posix_spawn_file_actions_addchdir_np", code) }
        }

        let argv = Self.cStrings([executable] + arguments)
        defer { Self.free(argv) }
        let envp = environment.map { Self.cStrings($0.map { "\($0.key)=\($0.value)" }) }
        defer { envp.map(Self.free) }
        #if canImport(Darwin)
        let inherited = _NSGetEnviron()!.pointee
        #else
        let inherited = environ
        #endif

        var pid = pid_t()
        code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp ?? inherited)
        guard code == 0 else {
            for end in parentEnds { end.close() }
            throw failure("posix_spawn", code)
        }
        self.pid = pid
        self.standardInput = input
        self.standardOutput = output
        self.standardError = error
    }

    /// Whether the child has not ended yet; reaps it (without blocking) when it has.
    package var isRunning: Bool { reapIfEnded() == nil }

    /// How the child ended; nil while it runs.
    package var termination: Termination? { reapIfEnded() }

    /// Blocks until the child ends, and answers how.
    @discardableResult
    package func waitUntilExit() -> Termination {
        while true {
            if let termination = reapIfEnded() { return termination }
            // Wait without reaping: the reap happens in `reapIfEnded`, under the lock.
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno != EINTR && errno != ECHILD {
                // Unexpected; poll rather than spin.
                usleep(10_000)
            }
        }
    }

    /// Sends `signal` to the child unless it has been reaped; true if sent.
    @discardableResult
    package func send(signal: Int32) -> Bool {
        reaped.withLock { termination in
            guard termination == nil else { return false }
            #if canImport(Glibc)
            return Glibc.kill(pid, signal) == 0
            #else
            return Darwin.kill(pid, signal) == 0
            #endif
        }
    }

    /// Sends SIGKILL (without waiting; see ``waitUntilExit()``).
    @discardableResult
    package func kill() -> Bool {
        send(signal: SIGKILL)
    }

    private func reapIfEnded() -> Termination? {
        reaped.withLock { termination in
            if let termination { return termination }
            var status: Int32 = 0
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid {
                    termination = Termination(waitStatus: status)
                    return termination
                }
                if result == 0 { return nil }
                if errno == EINTR { continue }
                // ECHILD: reaped by someone else (SIGCHLD ignored, or a
                // waitpid(-1) elsewhere); the status is lost.
                termination = .exited(-1)
                return termination
            }
        }
    }

    private static func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() {
            array[index] = strdup(string)
        }
        array[strings.count] = nil
        return array
    }

    private static func free(_ array: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        var index = 0
        while let string = array[index] {
            #if canImport(Glibc)
            Glibc.free(string)
            #else
            Darwin.free(string)
            #endif
            index += 1
        }
        array.deallocate()
    }
}
