import ArgumentParser
import Switchboard

/// `switchboard admin undrain`: ends a drain.
struct AdminUndrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain",
        abstract: "End a drain: /readyz answers 200 and sockets are accepted again; closes not yet made are cancelled."
    )

    @OptionGroup var options: AdminOptions

    func run() async throws {
        guard try await options.call(.POST, "/undrain") != nil else { return }
        print("undrained: accepting connections again")
    }
}
