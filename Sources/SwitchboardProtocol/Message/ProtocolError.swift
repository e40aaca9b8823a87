/// Why a frame could not be decoded or a message could not be encoded.
/// A decoding error closes the offending connection with close code 1002.
/// (A struct around a private enum: a new kind of error is not a breaking change.)
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case invalidJSON(String)
        case invalidShape(String)
        case tooDeep(limit: Int)
        case fieldTooLong(field: String, limit: Int)
        case invalidBinaryFrame(String)
        case unencodable(String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// The bytes are not valid JSON (or not valid UTF-8); `detail` says where.
    public static func invalidJSON(_ detail: String) -> ProtocolError {
        ProtocolError(.invalidJSON(detail))
    }

    /// Valid JSON, but not a Phoenix message of this version's shape.
    public static func invalidShape(_ detail: String) -> ProtocolError {
        ProtocolError(.invalidShape(detail))
    }

    /// JSON nested deeper than the configured limit.
    public static func tooDeep(limit: Int) -> ProtocolError {
        ProtocolError(.tooDeep(limit: limit))
    }

    /// A topic or event longer than the configured limit.
    public static func fieldTooLong(field: String, limit: Int) -> ProtocolError {
        ProtocolError(.fieldTooLong(field: field, limit: limit))
    }

    /// A binary frame that is malformed (unknown kind, truncated, lengths out of range).
    public static func invalidBinaryFrame(_ detail: String) -> ProtocolError {
        ProtocolError(.invalidBinaryFrame(detail))
    }

    /// The serializer cannot carry this payload (V1 has no binary payloads;
    /// a binary frame's length fields hold at most 255 bytes).
    public static func unencodable(_ detail: String) -> ProtocolError {
        ProtocolError(.unencodable(detail))
    }

    /// Whether this is a ``tooDeep(limit:)`` error.
    package var isTooDeep: Bool {
        if case .tooDeep = base { true } else { false }
    }

    public var description: String {
        switch base {
        case .invalidJSON(let detail): return "invalid JSON: \(detail)"
        case .invalidShape(let detail): return "not a Phoenix message: \(detail)"
        case .tooDeep(let limit): return "JSON nested deeper than \(limit) levels"
        case .fieldTooLong(let field, let limit): return "\(field) longer than \(limit) bytes"
        case .invalidBinaryFrame(let detail): return "invalid binary frame: \(detail)"
        case .unencodable(let detail): return "cannot encode: \(detail)"
        }
    }
}
