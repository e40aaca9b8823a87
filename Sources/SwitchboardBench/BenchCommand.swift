import ArgumentParser

/// `switchboard bench`: load generators for a running server, on loopback.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a running server on loopback: fan-out, echo, idle connections, connection churn, Redis, and watch clients through a deploy.",
        discussion: """
            Each mode ramps its connections up, measures for --duration seconds, prints a progress \
            line every second on stderr and a report on stdout (--json for one JSON object). With \
            --server-pid, the server's CPU time and RSS are sampled from /proc at the start and end \
            of the measured window. Run the server and the bench on the same machine.
            """,
        subcommands: [
            FanoutBenchCommand.self,
            EchoBenchCommand.self,
            IdleBenchCommand.self,
            ChurnBenchCommand.self,
            RedisBenchCommand.self,
            WatchBenchCommand.self,
            PresenceBenchCommand.self,
        ]
    )

    public init() {}
}
