import ArgumentParser

/// `switchboard admin`: the client of a node's admin API.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Inspect a running node or cluster and move connections: stats, shed, drain, undrain, rebalance, disconnect.",
        discussion: """
            Talks to the admin listener of `switchboard serve` (--admin-host, --admin-port; on only \
            with an admin token). The token comes from --token or SWITCHBOARD_ADMIN_TOKEN.
            """,
        subcommands: [
            AdminStatsCommand.self, AdminShedCommand.self, AdminDrainCommand.self,
            AdminUndrainCommand.self, AdminRebalanceCommand.self, AdminDisconnectCommand.self,
        ]
    )
}
