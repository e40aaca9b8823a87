import NIOCore

/// The payload of a Phoenix message: a JSON value, or raw bytes carried in a
/// V2 binary frame (phoenix.js sends an `ArrayBuffer` payload that way).
public enum Payload: Sendable, Hashable {
    case json(JSONValue)
    case binary(ByteBuffer)

    /// The empty JSON object `{}`, the payload of heartbeats, leaves and closes.
    public static let empty = Payload.json(.object([:]))
}
