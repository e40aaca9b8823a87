import ArgumentParser
import Switchboard

/// `switchboard admin shed`: closes some connections with code 1012, spread over a window.
struct AdminShedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shed",
        abstract: "Close connections chosen at random with code 1012, spread evenly over a window, so clients reconnect elsewhere."
    )

    @Option(help: ArgumentHelp("How many connections to close.", valueName: "n"))
    var count: Int?

    @Option(help: ArgumentHelp("Which percentage of the connections to close (0-100).", valueName: "p"))
    var percent: Double?

    @Option(help: ArgumentHelp("The window the closes are spread over.", valueName: "duration"))
    var over = "30s"

    @OptionGroup var options: AdminOptions

    func validate() throws {
        guard (count == nil) != (percent == nil) else {
            throw ValidationError("give either --count or --percent")
        }
        if let count, count < 0 { throw ValidationError("--count must be 0 or more") }
        if let percent, !(0...100).contains(percent) { throw ValidationError("--percent must be from 0 to 100") }
        guard SettingText.duration(over) != nil else {
            throw ValidationError("--over must be a duration such as 30s, 500ms or 2m")
        }
    }

    func run() async throws {
        var body: JSONObject = ["over": .string(over)]
        if let count { body["count"] = .int(count) }
        if let percent { body["percent"] = .double(percent) }
        guard let answer = try await options.call(.POST, "/shed", body: .object(body)) else { return }
        print("shedding \(answer["shedding"]?.intValue ?? 0) connections over \(over) (close code 1012)")
    }
}
