/// One node's counts, as it publishes them on the cluster topic every
/// ``ServerConfiguration/clusterReportInterval``.
public struct NodeReport: Sendable, Hashable {
    public var node: String
    public var version: String
    public var connections: Int
    /// The long-poll sessions among ``connections`` (the rest are
    /// WebSockets), `longpoll_connections` in JSON; `nil` in the reports of
    /// nodes that predate it.
    public var longPollConnections: Int?
    public var channels: Int
    public var topics: Int
    /// `serving`, `draining`, `drained`, `guarded` or `stopping`.
    public var state: String
    /// Whether the node takes new sockets (`/readyz` answers 200).
    public var accepting: Bool
    /// The PubSub adapter's state: `connected`, `reconnecting`, …
    public var pubsubState: String
    /// Each of the adapter's connections and its state (no detail),
    /// `pubsub_connections` in JSON; `nil` in the reports of nodes that
    /// predate it.
    public var pubsubConnections: [AdapterStatus.Connection]?
    public var uptimeSeconds: Double
    /// The newest version of the PubSub adapter's wire format that the node
    /// reads (``PubSubAdapter/wireVersion``), `wire_version` in JSON. Reports
    /// of nodes that predate it have none: they read version 1.
    public var wireVersion: Int

    public init(
        node: String, version: String, connections: Int, channels: Int, topics: Int,
        state: String, accepting: Bool, pubsubState: String, uptimeSeconds: Double, wireVersion: Int = 1,
        longPollConnections: Int? = nil, pubsubConnections: [AdapterStatus.Connection]? = nil
    ) {
        self.node = node
        self.version = version
        self.connections = connections
        self.longPollConnections = longPollConnections
        self.channels = channels
        self.topics = topics
        self.state = state
        self.accepting = accepting
        self.pubsubState = pubsubState
        self.uptimeSeconds = uptimeSeconds
        self.wireVersion = wireVersion
        self.pubsubConnections = pubsubConnections
    }

    /// The most adapter connections a report may list.
    static let maximumPubSubConnections = 4096

    /// The report as JSON, the payload of a `report` event on the cluster topic.
    public var json: JSONValue {
        var json: JSONObject = [
            "node": .string(node),
            "version": .string(version),
            "connections": .int(connections),
            "channels": .int(channels),
            "topics": .int(topics),
            "state": .string(state),
            "accepting": .bool(accepting),
            "pubsub_state": .string(pubsubState),
            "uptime_seconds": .double(uptimeSeconds),
            "wire_version": .int(wireVersion),
        ]
        if let longPollConnections { json["longpoll_connections"] = .int(longPollConnections) }
        if let pubsubConnections {
            json["pubsub_connections"] = .array(pubsubConnections.map { ["name": .string($0.name), "state": .string($0.state)] })
        }
        return .object(json)
    }

    /// Reads a report; `nil` when a field is missing or of the wrong type.
    /// Unknown fields are ignored (so older nodes read newer reports), and a
    /// missing `wire_version` is 1 (so newer nodes read older reports); a
    /// missing `longpoll_connections` or `pubsub_connections` stays unknown.
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
        let wireVersion: Int
        if let field = json["wire_version"] {
            guard let value = field.intValue, value >= 1 else { return nil }
            wireVersion = value
        } else {
            wireVersion = 1
        }
        var longPollConnections: Int?
        if let field = json["longpoll_connections"] {
            guard let value = field.intValue, (0...connections).contains(value) else { return nil }
            longPollConnections = value
        }
        var pubsubConnections: [AdapterStatus.Connection]?
        if let field = json["pubsub_connections"] {
            guard let entries = field.arrayValue, entries.count <= Self.maximumPubSubConnections else { return nil }
            pubsubConnections = []
            for entry in entries {
                guard let name = entry["name"]?.stringValue, let state = entry["state"]?.stringValue else { return nil }
                pubsubConnections?.append(AdapterStatus.Connection(name: name, state: state))
            }
        }
        self.init(
            node: node, version: version, connections: connections, channels: channels, topics: topics,
            state: state, accepting: accepting, pubsubState: pubsubState, uptimeSeconds: uptimeSeconds,
            wireVersion: wireVersion, longPollConnections: longPollConnections, pubsubConnections: pubsubConnections
        )
    }
}
