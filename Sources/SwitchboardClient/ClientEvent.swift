import NIOCore

/// Something that happened to a ``PhoenixClient``'s connection, as seen on
/// ``PhoenixClient/events`` and by ``PhoenixClient/nextEvent(timeout:where:)``.
public enum ClientEvent: Sendable, CustomStringConvertible {
    /// The connection is open (first connect or reconnect).
    case open
    /// The connection closed.
    case close(PhoenixClient.CloseInfo)
    /// A connection attempt failed, a frame could not be decoded, or the
    /// connection reported an error.
    case error(any Error)
    /// A reconnect attempt is scheduled after `delay`.
    case reconnectScheduled(attempt: Int, delay: TimeAmount)

    public var description: String {
        switch self {
        case .open: return "open"
        case .close(let info): return info.description
        case .error(let error): return "error(\(error))"
        case .reconnectScheduled(let attempt, let delay):
            return "reconnectScheduled(attempt: \(attempt), delay: \(delay.nanoseconds / 1_000_000) ms)"
        }
    }

    /// The close details of a `.close` event.
    public var closeInfo: PhoenixClient.CloseInfo? {
        if case .close(let info) = self { return info }
        return nil
    }

    /// Whether this is `.open`.
    public var isOpen: Bool {
        if case .open = self { return true }
        return false
    }
}
