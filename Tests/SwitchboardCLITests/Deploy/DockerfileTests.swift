import Foundation
import Testing

/// No Docker engine runs here: the Dockerfile is parsed and checked statically.
@Suite("Dockerfile")
struct DockerfileTests {
    /// One instruction: its keyword (upper case) and arguments, continuation lines joined.
    struct Instruction {
        var keyword: String
        var arguments: String
    }

    static func instructions() throws -> [Instruction] {
        let text = try DeployFiles.text("Dockerfile")
        var logical: [String] = []
        var current = ""
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if current.isEmpty, line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("#") { continue }  // comments inside a continued instruction
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
            } else {
                current += line
                logical.append(current)
                current = ""
            }
        }
        if !current.isEmpty { logical.append(current) }
        return logical.map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return Instruction(keyword: parts[0].uppercased(), arguments: parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : "")
        }
    }

    /// The instructions grouped by stage (from each FROM to the next).
    static func stages() throws -> [[Instruction]] {
        var stages: [[Instruction]] = []
        for instruction in try instructions() {
            if instruction.keyword == "FROM" {
                stages.append([instruction])
            } else if !stages.isEmpty {
                stages[stages.count - 1].append(instruction)
            }
        }
        return stages
    }

    @Test("two stages: a Swift toolchain builder running deploy/release, a slim Debian runtime")
    func stages() throws {
        let stages = try Self.stages()
        try #require(stages.count == 2, "expected a builder and a runtime stage")
        let builder = stages[0], runtime = stages[1]
        #expect(builder[0].arguments.hasPrefix("swift:6."), "builder: \(builder[0].arguments)")
        #expect(builder[0].arguments.hasSuffix(" AS builder"))
        let builderRuns = builder.filter { $0.keyword == "RUN" }.map(\.arguments).joined(separator: "\n")
        #expect(builderRuns.contains("libhiredis-dev"))
        #expect(builderRuns.contains("deploy/release"), "the image must be built by the release script")
        #expect(builder.contains { $0.keyword == "COPY" && $0.arguments == ". ." })

        #expect(runtime[0].arguments.hasPrefix("debian:bookworm-slim"))
        let copies = runtime.filter { $0.keyword == "COPY" }.map(\.arguments)
        #expect(copies.contains { $0.hasPrefix("--from=builder ") && $0.contains("/release") })
        let runtimeRuns = runtime.filter { $0.keyword == "RUN" }.map(\.arguments).joined(separator: "\n")
        #expect(!runtimeRuns.contains("libhiredis"), "the runtime must not need hiredis: it is linked statically")
        #expect(!runtimeRuns.contains("swift"))
    }

    @Test("the runtime runs as a non-root user, exposes the ports, checks /healthz, stops with SIGTERM")
    func runtime() throws {
        let runtime = try #require(try Self.stages().last)
        let users = runtime.filter { $0.keyword == "USER" }.map(\.arguments)
        let user = try #require(users.last, "the runtime stage must set USER")
        let name = user.split(separator: ":").first.map(String.init) ?? user
        #expect(name != "root" && name != "0", "USER \(user) is root")
        let runs = runtime.filter { $0.keyword == "RUN" }.map(\.arguments).joined(separator: "\n")
        #expect(runs.contains("useradd") && runs.contains(name), "the user \(name) must be created")

        let exposed = Set(runtime.filter { $0.keyword == "EXPOSE" }.flatMap { $0.arguments.split(separator: " ").map(String.init) })
        #expect(exposed == ["4000", "4100"])
        let environment = runtime.filter { $0.keyword == "ENV" }.map(\.arguments).joined(separator: " ")
        #expect(environment.contains("SWITCHBOARD_HOST=0.0.0.0"), "the server must listen beyond the container's loopback")
        #expect(environment.contains("SWITCHBOARD_PORT=4000"))
        #expect(environment.contains("SWITCHBOARD_ADMIN_PORT=4100"))

        let healthcheck = try #require(runtime.first { $0.keyword == "HEALTHCHECK" })
        #expect(healthcheck.arguments.contains("CMD"))
        #expect(healthcheck.arguments.contains("switchboardctl\", \"health\"") || healthcheck.arguments.contains("/healthz"))
        #expect(runtime.first { $0.keyword == "STOPSIGNAL" }?.arguments == "SIGTERM")
        let entrypoint = try #require(runtime.first { $0.keyword == "ENTRYPOINT" })
        #expect(entrypoint.arguments == #"["/opt/switchboard/bin/switchboardctl", "start"]"#, "exec form, so SIGTERM reaches the server")
    }

    @Test("the health check command probes /healthz")
    func healthCommand() throws {
        let script = try DeployFiles.text("deploy/switchboardctl")
        #expect(script.contains("GET /healthz"))
    }

    @Test(".dockerignore keeps build folders out of the context")
    func dockerignore() throws {
        let ignored = try DeployFiles.text(".dockerignore").split(separator: "\n").map(String.init)
        for entry in [".build", ".build-*", "dist"] {
            #expect(ignored.contains(entry))
        }
    }
}
