import NIOCore

/// A broadcast travelling through PubSub, locally and between nodes.
///
/// `encoded` is the message as the V2 serializer writes it, serialized once
/// by the sender: every V2 subscriber gets these bytes (each transport adds
/// its own framing), and a receiving node delivers them without encoding
/// again. Nothing here belongs to a transport.
public struct PubSubMessage: Sendable {
    public var topic: String
    public var event: String
    public var payload: Payload
    /// The node that published it.
    public var originNode: String
    /// A local subscriber that must not receive it (``PubSub/broadcastFrom(_:topic:event:payload:)``).
    var excluding: SubscriberID?
    /// The serialized V2 broadcast, when already known: what
    /// ``V2Serializer/encodeServerFrame(_:into:)`` writes for
    /// `[null, null, topic, event, payload]` — the JSON array text for a JSON
    /// payload, the kind 2 binary broadcast for a binary one
    /// (``encodedKind``). No transport framing.
    public var encoded: ByteBuffer?
    /// The sender's own wrapping of ``encoded`` in this node's transport
    /// framing, sharing its storage: the first event loop writes it as it
    /// is, so a local broadcast costs one encoding and no copy there. Never
    /// leaves the node, and only one loop gets it (``PubSub/dispatchLocally(_:)``).
    var wrapped: (framing: UInt8, bytes: ByteBuffer)?

    public init(topic: String, event: String, payload: Payload, originNode: String, encoded: ByteBuffer? = nil) {
        self.topic = topic
        self.event = event
        self.payload = payload
        self.originNode = originNode
        self.encoded = encoded
    }

    /// Whether ``encoded`` is text or binary, as the V2 serializer decides
    /// it: text for a JSON payload, binary for a binary one.
    public var encodedKind: FrameKind {
        if case .binary = payload { return .binary }
        return .text
    }
}

/// Identifies one local subscriber (a channel instance or a handler).
public struct SubscriberID: Sendable, Hashable {
    let rawValue: UInt64
}
