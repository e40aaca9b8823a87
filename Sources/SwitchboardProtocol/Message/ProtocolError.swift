/// Why a frame could not be decoded or a message could not be encoded.
/// A decoding error closes the offending connection with close code 1002.
public enum ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not valid JSON (or not valid UTF-8); `detail` says where.
    case invalidJSON(String)
    /// Valid JSON, but not a Phoenix message of this version's shape.
    case invalidShape(String)
    /// JSON nested deeper than the configured limit.
    case tooDeep(limit: Int)
    /// A topic or event longer than the configured limit.
    case fieldTooLong(field: String, limit: Int)
    /// A binary frame that is malformed (unknown kind, truncated, lengths out of range).
    case invalidBinaryFrame(String)
    /// The serializer cannot carry this payload (V1 has no binary payloads;
    /// a binary frame's length fields hold at most 255 bytes).
    case unencodable(String)

    public var description: String {
        switch self {
        case .invalidJSON(let detail): return "invalid JSON: \(detail)"
        case .invalidShape(let detail): return "not a Phoenix message: \(detail)"
        case .tooDeep(let limit): return "JSON nested deeper than \(limit) levels"
        case .fieldTooLong(let field, let limit): return "\(field) longer than \(limit) bytes"
        case .invalidBinaryFrame(let detail): return "invalid binary frame: \(detail)"
        case .unencodable(let detail): return "cannot encode: \(detail)"
        }
    }
}
