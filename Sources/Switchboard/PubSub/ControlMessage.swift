/// A message from one node to the others that is not a broadcast: the
/// cluster's reports and commands (`report`, `shed`, `disconnect`). The
/// adapter carries it apart from every topic
/// (``PubSubAdapter/sendControl(_:to:)``).
public struct ControlMessage: Sendable, Hashable {
    /// What it is: `report`, `shed`, `disconnect`, …
    public var event: String
    public var payload: JSONValue
    /// The node that sent it.
    public var originNode: String

    public init(event: String, payload: JSONValue, originNode: String) {
        self.event = event
        self.payload = payload
        self.originNode = originNode
    }
}
