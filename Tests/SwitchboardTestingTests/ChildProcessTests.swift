#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import SwitchboardTesting
import Switchboard

/// The posix_spawn-based child process the bench and the tests start
/// redis-server, haproxy, openssl and the deploy scripts with.
@Suite("Child process")
struct ChildProcessTests {
    /// Runs `/bin/sh -c script` with `arguments` as `$1`…, and answers its
    /// standard output and how it ended.
    private func shell(
        _ script: String,
        _ arguments: [String] = [],
        environment: [String: String]? = nil,
        directory: String? = nil
    ) throws -> (output: String, termination: ChildProcess.Termination) {
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", script, "sh"] + arguments,
            environment: environment, directory: directory, standardOutput: .pipe
        )
        let output = try child.standardOutput!.readToEnd()
        return (String(decoding: output, as: UTF8.self), child.waitUntilExit())
    }

    @Test func argumentsReachTheChildAndItsOutputComesBackThroughAPipe() throws {
        let (output, termination) = try shell(#"printf '%s|%s' "$1" "$2""#, ["two words", "*"])
        #expect(output == "two words|*")
        #expect(termination == .exited(0))
    }

    @Test func standardInputIsWrittenThroughAPipe() throws {
        let child = try ChildProcess(executable: "/bin/cat", standardInput: .pipe, standardOutput: .pipe)
        let text = "first line\nsecond line, no newline"
        try child.standardInput!.write(Array(text.utf8))
        child.standardInput!.close()
        let output = try child.standardOutput!.readToEnd()
        #expect(String(decoding: output, as: UTF8.self) == text)
        #expect(child.waitUntilExit() == .exited(0))
    }

    @Test func exitCodeIsReported() throws {
        let (_, termination) = try shell("exit 3")
        #expect(termination == .exited(3))
        #expect(termination.status == 3)
    }

    @Test func deathBySignalIsReported() throws {
        let (_, termination) = try shell("kill -TERM $$")
        #expect(termination == .signalled(SIGTERM))
        #expect(termination.status == SIGTERM)
    }

    @Test func environmentIsTheOneGiven() throws {
        let (output, _) = try shell(#"printf '%s|%s' "$GREETING" "${HOME-unset}""#, environment: ["GREETING": "hello there"])
        #expect(output == "hello there|unset")
    }

    @Test func environmentIsInheritedByDefault() throws {
        let path = String(cString: try #require(getenv("PATH")))
        let (output, _) = try shell(#"printf '%s' "$PATH""#)
        #expect(output == path)
    }

    @Test func workingDirectoryIsHonoured() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (output, _) = try shell("pwd -P", directory: directory.path)
        #expect(output == directory.resolvingSymlinksInPath().path + "\n")
        #expect(output != FileManager.default.currentDirectoryPath + "\n")
    }

    @Test func descriptorsOtherThanTheStandardOnesAreNotInherited() throws {
        // Opened without O_CLOEXEC, as NIO's accepted sockets are.
        let descriptor = open("/dev/null", O_RDONLY)
        try #require(descriptor > STDERR_FILENO)
        defer { close(descriptor) }
        let (output, _) = try shell(
            #"for fd in 1 "$1"; do if [ -e /proc/self/fd/$fd ]; then echo "$fd open"; else echo "$fd closed"; fi; done"#,
            ["\(descriptor)"]
        )
        #expect(output == "1 open\n\(descriptor) closed\n")
    }

    @Test func outputAndErrorToOneFileShareIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-child-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "echo out; echo err >&2; echo out again"],
            standardInput: .nullDevice, standardOutput: .file(path), standardError: .file(path)
        )
        #expect(child.waitUntilExit() == .exited(0))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "out\nerr\nout again\n")
    }

    @Test func signalEndsARunningChild() throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], standardOutput: .nullDevice)
        #expect(child.isRunning)
        #expect(child.termination == nil)
        #expect(child.send(signal: SIGKILL))
        #expect(child.waitUntilExit() == .signalled(SIGKILL))
        #expect(!child.isRunning)
        #expect(!child.send(signal: SIGKILL), "a reaped child's pid is not signalled")
    }

    @Test func missingExecutableThrows() {
        #expect {
            _ = try ChildProcess(executable: "/nonexistent/switchboard-no-such-program")
        } throws: { error in
            guard let error = error as? ChildProcess.SpawnError else { return false }
            return error.errorNumber == ENOENT
                && error.description.contains("/nonexistent/switchboard-no-such-program")
                && error.description.contains("No such file or directory")
        }
    }
}
