import ArgumentParser
import Switchboard

/// `switchboard admin drain`: refuses new connections and sheds every one over a window.
struct AdminDrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Turn /readyz to 503, refuse new sockets and close every connection with code 1012 over a window."
    )

    @Option(help: ArgumentHelp("The window the closes are spread over.", valueName: "duration"))
    var over = "60s"

    @OptionGroup var options: AdminOptions

    func validate() throws {
        guard SettingText.duration(over) != nil else {
            throw ValidationError("--over must be a duration such as 60s or 2m")
        }
    }

    func run() async throws {
        guard let answer = try await options.call(.POST, "/drain", body: ["over": .string(over)]) else { return }
        print("draining: /readyz answers 503, new sockets are refused, shedding \(answer["shedding"]?.intValue ?? 0) connections over \(over)")
    }
}
