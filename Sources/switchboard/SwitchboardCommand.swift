import ArgumentParser
import Switchboard
import SwitchboardBench

/// The `switchboard` command line.
@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A Phoenix Channels server: WebSocket channels, PubSub and an HTTP broadcast API.",
        version: SwitchboardVersion.current,
        subcommands: [ServeCommand.self, ConfigCommand.self, TokenCommand.self, AdminCommand.self, BenchCommand.self]
    )
}
