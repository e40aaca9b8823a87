import ArgumentParser
import Switchboard

/// `switchboard admin stats`: the node's counts and state.
struct AdminStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the node, its connections, channels, topics, PubSub adapter and shed/drain state; --cluster lists every node."
    )

    @Flag(help: "List every node of the cluster (as this node last heard from them) instead.")
    var cluster = false

    @OptionGroup var options: AdminOptions

    func run() async throws {
        if cluster {
            guard let view = try await options.call(.GET, "/cluster") else { return }
            print(Self.renderCluster(view))
        } else {
            guard let stats = try await options.call(.GET, "/stats") else { return }
            print(Self.render(stats))
        }
    }

    /// The readable form of a `/cluster` answer: one line per node.
    static func renderCluster(_ view: JSONValue) -> String {
        let header = ["node", "version", "state", "connections", "channels", "topics", "pubsub", "uptime"]
        var rows = [header]
        for node in view["nodes"]?.arrayValue ?? [] {
            rows.append([
                node["node"]?.stringValue ?? "-", node["version"]?.stringValue ?? "-", node["state"]?.stringValue ?? "-",
                node["connections"]?.intValue.map(String.init) ?? "-", node["channels"]?.intValue.map(String.init) ?? "-",
                node["topics"]?.intValue.map(String.init) ?? "-", Self.pubsub(of: node),
                node["uptime_seconds"]?.doubleValue.map(Self.seconds) ?? "-",
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        let total = view["connections"]?.intValue ?? 0
        lines.append("\(rows.count - 1) node(s), \(total) connections (as heard by \(view["node"]?.stringValue ?? "-"))")
        return lines.joined(separator: "\n")
    }

    /// A node's PubSub state, with the connections that are not connected:
    /// `reconnecting (shard 10.0.0.22:6379 subscriber)`.
    static func pubsub(of node: JSONValue) -> String {
        let state = node["pubsub_state"]?.stringValue ?? "-"
        let down = (node["pubsub_connections"]?.arrayValue ?? []).compactMap { connection -> String? in
            guard let name = connection["name"]?.stringValue, connection["state"]?.stringValue != "connected" else { return nil }
            return name
        }
        return down.isEmpty ? state : "\(state) (\(down.joined(separator: ", ")))"
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
        for connection in stats["pubsub"]?["connections"]?.arrayValue ?? [] {
            pubsub += "\n             \(text(connection["name"])): \(text(connection["state"]))"
        }
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
