import NIOCore

/// A broadcast travelling through PubSub, locally and between nodes.
///
/// `frame` is the V2 client frame, WebSocket header included, encoded once by
/// the sender: every V2 subscriber gets these same bytes, and a receiving node
/// can write them without encoding again.
public struct PubSubMessage: Sendable {
    public var topic: String
    public var event: String
    public var payload: Payload
    /// The node that published it.
    public var originNode: String
    /// A local subscriber that must not receive it (``PubSub/broadcastFrom(_:topic:event:payload:)``).
    var excluding: SubscriberID?
    /// The pre-encoded V2 frame, when already known.
    public var frame: ByteBuffer?

    public init(topic: String, event: String, payload: Payload, originNode: String, frame: ByteBuffer? = nil) {
        self.topic = topic
        self.event = event
        self.payload = payload
        self.originNode = originNode
        self.frame = frame
    }

    /// The same message with a frame that shares no storage with this one's.
    func withOwnFrame() -> PubSubMessage {
        guard let frame else { return self }
        var copy = self
        copy.frame = ByteBuffer(bytes: frame.readableBytesView)
        return copy
    }
}

/// Identifies one local subscriber (a channel instance or a handler).
public struct SubscriberID: Sendable, Hashable {
    let rawValue: UInt64
}
