import ArgumentParser
import Switchboard

/// `switchboard admin rebalance`: asks the nodes above the cluster's mean to
/// shed their excess.
struct AdminRebalanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Even out connections across the cluster: nodes above the mean by more than the tolerance shed their excess (code 1012) over a window.",
        discussion: """
            Any node can be asked: it uses the counts every node publishes each second. With the load \
            balancer's leastconn, the reconnecting clients land on the least loaded nodes.
            """
    )

    @Option(help: ArgumentHelp("How far above the mean a node may be without shedding, such as 10%.", valueName: "percent"))
    var tolerance = "10%"

    @Option(help: ArgumentHelp("The window each node spreads its closes over.", valueName: "duration"))
    var over = "30s"

    @OptionGroup var options: AdminOptions

    func validate() throws {
        guard let percent = Double(tolerance.hasSuffix("%") ? String(tolerance.dropLast()) : tolerance), (0...100).contains(percent) else {
            throw ValidationError("--tolerance must be a percentage from 0% to 100%, such as 10%")
        }
        guard SettingText.duration(over) != nil else {
            throw ValidationError("--over must be a duration such as 30s, 500ms or 2m")
        }
    }

    func run() async throws {
        let percent = tolerance.hasSuffix("%") ? tolerance : tolerance + "%"
        guard let answer = try await options.call(.POST, "/rebalance", body: ["tolerance": .string(percent), "over": .string(over)]) else { return }
        let mean = answer["mean"]?.doubleValue ?? 0
        print("mean \(String(format: "%.1f", mean)) connections per serving node; tolerance \(percent); over \(over)")
        for node in answer["nodes"]?.arrayValue ?? [] {
            let name = node["node"]?.stringValue ?? "-"
            let connections = node["connections"]?.intValue ?? 0
            let shedding = node["shedding"]?.intValue ?? 0
            print("  \(name.padding(toLength: max(name.count, 24), withPad: " ", startingAt: 0))  \(connections) connections, shedding \(shedding)")
        }
        print("shedding \(answer["shedding"]?.intValue ?? 0) connections in all")
    }
}
