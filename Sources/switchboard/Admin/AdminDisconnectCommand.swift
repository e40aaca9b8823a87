import ArgumentParser
import Switchboard

/// `switchboard admin disconnect`: closes every socket with an id.
struct AdminDisconnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect",
        abstract: "Close every socket whose socket id is <id> (a user's sessions), on every node of the cluster, with code 1001."
    )

    @Argument(help: ArgumentHelp("The socket id, such as user_socket:42.", valueName: "id"))
    var id: String

    @OptionGroup var options: AdminOptions

    func run() async throws {
        guard let answer = try await options.call(.POST, "/disconnect", body: ["id": .string(id)]) else { return }
        print("disconnected \(answer["disconnected"]?.intValue ?? 0) connections with socket id \(id) on this node, and asked the other nodes to do the same (close code 1001)")
    }
}
