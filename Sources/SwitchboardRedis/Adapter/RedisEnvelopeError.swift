/// Why bytes received from Redis are not a usable ``RedisEnvelope``. The
/// message is dropped, counted and logged; nothing else happens.
enum RedisEnvelopeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// It does not start with the envelope's magic bytes.
    case notAnEnvelope
    /// A version this node does not know (a newer node in a rolling deploy?).
    case unknownVersion(UInt8)
    /// It ends before `field`.
    case truncated(String)
    /// A field is out of bounds or inconsistent.
    case invalid(String)

    var description: String {
        switch self {
        case .notAnEnvelope: return "not a Switchboard envelope"
        case .unknownVersion(let version): return "unknown envelope version \(version) (this node reads versions \(RedisEnvelope.oldestVersion) to \(RedisEnvelope.latestVersion))"
        case .truncated(let field): return "envelope truncated at \(field)"
        case .invalid(let problem): return "malformed envelope: \(problem)"
        }
    }
}
