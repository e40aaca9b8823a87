/// The page of `GET /metrics` as `switchboard serve` shows it: a registry's
/// Prometheus text with a `# HELP` line for every metric family, followed
/// by the process's own metrics (``ProcessMetrics``).
///
/// swift-metrics has no place for help text, so the lines are added here,
/// from ``help``, to whatever text the Prometheus backend rendered.
public enum PrometheusPage {
    /// `registryText` with its help lines, then the `process_*` metrics.
    public static func finish(_ registryText: [UInt8]) -> [UInt8] {
        var page = withHelp(registryText)
        page += ProcessMetrics.current().prometheusText.utf8
        return page
    }

    /// `text` with `# HELP <name> <help>` before each `# TYPE <name> …` line
    /// whose family is in ``help`` and has no help line yet.
    public static func withHelp(_ text: [UInt8]) -> [UInt8] {
        var page: [UInt8] = []
        page.reserveCapacity(text.count + 4096)
        var previous: ArraySlice<UInt8> = []
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: typePrefix), let name = line.dropFirst(typePrefix.count).split(separator: UInt8(ascii: " ")).first {
                let family = String(decoding: name, as: UTF8.self)
                if let text = help[family], !previous.starts(with: Array("# HELP \(family) ".utf8)) {
                    page += "# HELP \(family) \(text)\n".utf8
                }
            }
            page += line
            page.append(UInt8(ascii: "\n"))
            previous = line
        }
        // The loop adds one line break past the text's last.
        page.removeLast()
        return page
    }

    private static let typePrefix = Array("# TYPE ".utf8)

    /// The help text of every metric family the server and `serve` record, by name.
    public static let help: [String: String] = [
        "switchboard_build_info": "Always 1; the labels say which version was built, with which Swift, for which platform.",
        "switchboard_node_state": "1 for the node's state (serving, guarded, draining, drained, stopping), 0 for the others.",
        "switchboard_connections": "Open sockets: WebSocket connections and long-poll sessions.",
        "switchboard_longpoll_sessions": "Open long-poll sessions (counted in switchboard_connections too).",
        "switchboard_longpoll_forwarded_total": "Long-poll requests this node forwarded to the node that owns their session.",
        "switchboard_channels": "Joined channels, over all connections.",
        "switchboard_topics": "Topics with at least one local subscriber.",
        "switchboard_socket_connects_total": "Socket connects by transport and outcome (ok, refused, invalid, unavailable, limited, error).",
        "switchboard_channel_joins_total": "Channel joins by outcome (ok, refused, crashed).",
        "switchboard_messages_in_total": "Phoenix messages received from clients.",
        "switchboard_frames_out_total": "WebSocket frames written to clients.",
        "switchboard_broadcasts_total": "Broadcasts that reached this node, from any node.",
        "switchboard_deliveries_total": "Broadcast frames handed to local subscribers.",
        "switchboard_broadcast_fanout_seconds": "Time one event loop takes to hand one broadcast to its subscribers.",
        "switchboard_shed_connections_total": "Connections closed with code 1012, by reason (operator, drain, shutdown, rebalance, max_age, resource_guard).",
        "switchboard_slow_consumer_closes_total": "Connections closed because the client read slower than the node wrote (outbound queue over limits.max_outbound_bytes).",
        "switchboard_pubsub_connected": "1 while the PubSub adapter reaches the cluster (always 1 with the local adapter), else 0.",
        "switchboard_pubsub_connection_up": "1 while this connection of the PubSub adapter is connected, else 0, by connection (subscriber, publisher 0, shard <address> subscriber, …); none with the local adapter.",
        "switchboard_pubsub_buffered_messages": "Messages held for other nodes until the cluster (Redis) is back: the outage buffer, over all the node's connections.",
        "switchboard_pubsub_buffered_bytes": "Bytes held in the outage buffer, over all the node's connections.",
        "switchboard_pubsub_published_total": "Messages this node sent to other nodes through the PubSub adapter.",
        "switchboard_pubsub_received_total": "Messages this node received from other nodes through the PubSub adapter.",
        "switchboard_pubsub_dropped_total": "Messages dropped because the cluster (Redis) was unreachable.",
        "switchboard_pubsub_reconnects_total": "Connections to the cluster (Redis) re-established after a loss.",
        "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
        "process_resident_memory_bytes": "Resident memory size in bytes.",
        "process_virtual_memory_bytes": "Virtual memory size in bytes.",
        "process_open_fds": "Number of open file descriptors.",
        "process_max_fds": "Maximum number of open file descriptors.",
        "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
    ]
}
