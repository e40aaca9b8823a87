import ArgumentParser
import Switchboard

/// `switchboard admin stats`: the node's counts and state.
struct AdminStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the node, its connections, channels, topics, PubSub adapter and shed/drain state."
    )

    @OptionGroup var options: AdminOptions

    func run() async throws {
        guard let stats = try await options.call(.GET, "/stats") else { return }
        print(Self.render(stats))
    }

    /// The readable form of a `/stats` answer.
    static func render(_ stats: JSONValue) -> String {
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let string)?: string
            case .int(let int)?: String(int)
            case .double(let double)?: String(format: double)
            case .bool(let bool)?: String(bool)
            default: "-"
            }
        }
        var pubsub = "\(text(stats["pubsub"]?["adapter"])): \(text(stats["pubsub"]?["state"]))"
        if let detail = stats["pubsub"]?["detail"]?.stringValue { pubsub += " (\(detail))" }
        var state = text(stats["state"])
        if let window = stats["drain"]?["window_seconds"]?.doubleValue, let elapsed = stats["drain"]?["elapsed_seconds"]?.doubleValue {
            state += " (drain over \(Self.seconds(window)), \(Self.seconds(elapsed)) ago)"
        }
        let uptime = stats["uptime_seconds"]?.doubleValue.map(Self.seconds) ?? "-"
        return """
            node         \(text(stats["node"])) (version \(text(stats["version"])), up \(uptime))
            state        \(state), \(stats["accepting"]?.boolValue == true ? "accepting connections" : "refusing connections")
            connections  \(text(stats["connections"]))
            channels     \(text(stats["channels"]))
            topics       \(text(stats["topics"]))
            pubsub       \(pubsub)
            shed         \(text(stats["shed"]?["pending"])) pending, \(text(stats["shed"]?["total"])) closed since start
            """
    }

    /// `1h 2m 3s`, `4.5s`.
    static func seconds(_ value: Double) -> String {
        if value < 60 { return String(format: value) + "s" }
        let total = Int(value)
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? "\(hours)h \(minutes)m \(seconds)s" : "\(minutes)m \(seconds)s"
    }
}

private extension String {
    /// One decimal at most: `4.5`, `12`.
    init(format value: Double) {
        let rounded = (value * 10).rounded() / 10
        self = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
