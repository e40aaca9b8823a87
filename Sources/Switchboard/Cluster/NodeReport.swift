/// One node's counts, as it publishes them on the cluster topic every
/// ``ServerConfiguration/clusterReportInterval``.
public struct NodeReport: Sendable, Hashable {
    public var node: String
    public var version: String
    public var connections: Int
    public var channels: Int
    public var topics: Int
    /// `serving`, `draining`, `drained`, `guarded` or `stopping`.
    public var state: String
    /// Whether the node takes new sockets (`/readyz` answers 200).
    public var accepting: Bool
    /// The PubSub adapter's state: `connected`, `reconnecting`, …
    public var pubsubState: String
    public var uptimeSeconds: Double

    public init(
        node: String, version: String, connections: Int, channels: Int, topics: Int,
        state: String, accepting: Bool, pubsubState: String, uptimeSeconds: Double
    ) {
        self.node = node
        self.version = version
        self.connections = connections
        self.channels = channels
        self.topics = topics
        self.state = state
        self.accepting = accepting
        self.pubsubState = pubsubState
        self.uptimeSeconds = uptimeSeconds
    }

    /// The report as JSON, the payload of a `report` event on the cluster topic.
    public var json: JSONValue {
        [
            "node": .string(node),
            "version": .string(version),
            "connections": .int(connections),
            "channels": .int(channels),
            "topics": .int(topics),
            "state": .string(state),
            "accepting": .bool(accepting),
            "pubsub_state": .string(pubsubState),
            "uptime_seconds": .double(uptimeSeconds),
        ]
    }

    /// Reads a report; `nil` when a field is missing or of the wrong type.
    public init?(json: JSONValue) {
        guard let node = json["node"]?.stringValue, !node.isEmpty,
              let version = json["version"]?.stringValue,
              let connections = json["connections"]?.intValue, connections >= 0,
              let channels = json["channels"]?.intValue, channels >= 0,
              let topics = json["topics"]?.intValue, topics >= 0,
              let state = json["state"]?.stringValue,
              let accepting = json["accepting"]?.boolValue,
              let pubsubState = json["pubsub_state"]?.stringValue,
              let uptimeSeconds = json["uptime_seconds"]?.doubleValue
        else { return nil }
        self.init(
            node: node, version: version, connections: connections, channels: channels, topics: topics,
            state: state, accepting: accepting, pubsubState: pubsubState, uptimeSeconds: uptimeSeconds
        )
    }
}
