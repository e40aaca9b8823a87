import NIOCore

/// Whether a WebSocket data frame is text (JSON) or binary.
public enum FrameKind: Sendable, Hashable {
    case text
    case binary
}

/// Bounds applied while decoding untrusted frames.
public struct DecodingLimits: Sendable, Hashable {
    /// Deepest nesting of arrays and objects accepted in a payload.
    public var maxJSONDepth: Int
    /// Longest topic accepted, in UTF-8 bytes.
    public var maxTopicLength: Int
    /// Longest event name accepted, in UTF-8 bytes.
    public var maxEventLength: Int

    public init(maxJSONDepth: Int = 32, maxTopicLength: Int = 255, maxEventLength: Int = 255) {
        self.maxJSONDepth = maxJSONDepth
        self.maxTopicLength = maxTopicLength
        self.maxEventLength = maxEventLength
    }

    public static let `default` = DecodingLimits()
}

/// Turns Phoenix messages into WebSocket frame payloads and back, for one
/// protocol version. Both directions exist so the server and the client
/// share one implementation.
public protocol Serializer: Sendable {
    /// The `vsn` this serializer speaks (`"2.0.0"`, `"1.0.0"`).
    var version: String { get }

    /// Server side: decode a frame a client sent.
    func decodeClientFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> Message
    /// Server side: append the encoding of `frame` to `buffer` and say which frame kind carries it.
    func encodeServerFrame(_ frame: OutboundFrame, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind
    /// Server side: append a message without `ref` whose payload is JSON
    /// already encoded (`payload` holds one JSON value, written as it is),
    /// exactly as ``encodeServerFrame(_:into:)`` encodes that message with
    /// the payload as data. It goes in a text frame. For a payload shared by
    /// many messages, such as a large topic's `presence_state`.
    func encodeServerMessage(joinRef: String?, topic: String, event: String, encodedPayload payload: ByteBuffer, into buffer: inout ByteBuffer)

    /// Client side: append the encoding of a message the client sends.
    func encodeClientMessage(_ message: Message, into buffer: inout ByteBuffer) throws(ProtocolError) -> FrameKind
    /// Client side: decode a frame the server sent. `phx_reply` messages come back as `.reply`.
    func decodeServerFrame(_ data: ByteBuffer, kind: FrameKind, limits: DecodingLimits) throws(ProtocolError) -> OutboundFrame
}

/// The serializers a socket can speak, chosen by the `vsn` query parameter.
public enum SerializerVersion: String, Sendable, Hashable, CaseIterable {
    case v1 = "1.0.0"
    case v2 = "2.0.0"

    /// The serializer for a `vsn` value; a missing `vsn` means V1, an unknown one `nil`.
    public init?(vsn: String?) {
        guard let vsn else { self = .v1; return }
        self.init(rawValue: vsn)
    }

    public var serializer: any Serializer {
        switch self {
        case .v1: return V1Serializer()
        case .v2: return V2Serializer()
        }
    }
}
