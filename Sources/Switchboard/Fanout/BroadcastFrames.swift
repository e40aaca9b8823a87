import NIOCore

/// The bytes of one broadcast on one loop, made at most once per serializer
/// and transport framing. For V2 they are a wrapped copy of the sender's
/// serialized message (one small copy per broadcast and loop, so loops share
/// no buffer and no reference count); for V1 an encoding of their own.
package struct BroadcastFrames {
    /// Which bytes: a serializer and a transport framing (``MessageFraming/id``).
    private struct Kind: Hashable {
        var version: SerializerVersion
        var framing: UInt8
    }

    private let message: PubSubMessage
    /// The bytes made last and their kind: nearly every subscriber of a
    /// fan-out shares them, at the cost of one comparison. `nil` bytes: this
    /// kind cannot carry the message.
    private var last: (kind: Kind, bytes: ByteBuffer?)?
    /// The other kinds made so far (mixed serializers or transports).
    private var others: [Kind: ByteBuffer?] = [:]

    init(message: PubSubMessage) {
        self.message = message
    }

    /// The bytes for `connection`'s serializer and transport, made the first
    /// time they are needed; `nil` when its serializer cannot carry the
    /// message (V1 has no binary payloads).
    mutating func bytes(for connection: SocketConnection) -> ByteBuffer? {
        if let last, last.kind.version == connection.version, last.kind.framing == connection.framingID {
            return last.bytes
        }
        return make(for: connection)
    }

    private mutating func make(for connection: SocketConnection) -> ByteBuffer? {
        let kind = Kind(version: connection.version, framing: connection.framingID)
        if let last { others[last.kind] = last.bytes }
        // A kind met before comes back as made, a failure (`nil`) included.
        let bytes = others.removeValue(forKey: kind) ?? encode(for: connection)
        last = (kind, bytes)
        return bytes
    }

    private func encode(for connection: SocketConnection) -> ByteBuffer? {
        if connection.version == .v2, let wrapped = message.wrapped, wrapped.framing == connection.framingID {
            return wrapped.bytes
        }
        let framing = connection.transport.framing
        if connection.version == .v2, let encoded = message.encoded {
            return framing.wrap(encoded, message.encodedKind, SocketConnection.allocator)
        }
        return try? framing.encode(Self.outbound(message), connection.serializer, SocketConnection.allocator)
    }

    /// `[null, null, topic, event, payload]`, the broadcast as a serializer sees it.
    package static func outbound(_ message: PubSubMessage) -> OutboundFrame {
        .message(Message(topic: message.topic, event: message.event, payload: message.payload))
    }
}
