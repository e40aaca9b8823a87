/// Why a presence could not be tracked, updated or untracked.
public enum PresenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Keys identify who is present: they cannot be empty.
    case emptyKey
    /// The meta is larger than ``PresenceOptions/maxMetaBytes`` as JSON.
    case metaTooLarge(bytes: Int, limit: Int)
    /// This channel instance tracks `key` already (``ChannelContext/update(key:meta:)`` changes it).
    case alreadyTracked(key: String)
    /// This channel instance does not track `key`.
    case notTracked(key: String)

    public var description: String {
        switch self {
        case .emptyKey: "a presence key cannot be empty"
        case .metaTooLarge(let bytes, let limit): "presence meta of \(bytes) bytes; at most \(limit)"
        case .alreadyTracked(let key): "\(key) is tracked already on this channel"
        case .notTracked(let key): "\(key) is not tracked on this channel"
        }
    }
}
