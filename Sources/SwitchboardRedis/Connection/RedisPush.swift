import NIOCore

/// What a connection in RESP2 subscribe mode receives. The sharded forms
/// (`smessage`, `ssubscribe`, `sunsubscribe`, Redis 7 Cluster) read as the
/// classic ones: a subscriber connection uses one kind or the other.
enum RedisPush: Sendable {
    /// `message channel payload`: a publish on a subscribed channel.
    case message(channel: ByteBuffer, payload: ByteBuffer)
    /// `subscribe channel count`: a SUBSCRIBE is in effect.
    case subscribed(channel: String)
    /// `unsubscribe channel count`: an UNSUBSCRIBE is in effect.
    case unsubscribed(channel: String)
    /// `pong …`: the answer to a PING in subscribe mode.
    case pong

    /// Reads a subscribe-mode reply; `nil` for anything else.
    init?(_ value: RedisValue) {
        guard case .array(let elements) = value, elements.count >= 2, let kind = elements[0].bytes else {
            return nil
        }
        switch (String(buffer: kind), elements.count) {
        case ("message", 3), ("smessage", 3):
            guard let channel = elements[1].bytes, let payload = elements[2].bytes else { return nil }
            self = .message(channel: channel, payload: payload)
        case ("subscribe", 3), ("ssubscribe", 3):
            guard let channel = elements[1].string else { return nil }
            self = .subscribed(channel: channel)
        case ("unsubscribe", 3), ("sunsubscribe", 3):
            guard let channel = elements[1].string else { return nil }
            self = .unsubscribed(channel: channel)
        case ("pong", _):
            self = .pong
        default:
            return nil
        }
    }
}
