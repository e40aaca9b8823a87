import SwitchboardProtocol

/// Errors thrown by ``PhoenixClient`` and ``ClientChannel``.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// The server answered the upgrade request with an HTTP status other than
    /// 101 (403 for a refused connect or origin, 400, 404, …); `body` is the
    /// start of the response body.
    case upgradeRefused(status: Int, body: String)
    /// The upgrade failed after the server's response (bad `Sec-WebSocket-Accept`,
    /// connection closed during the handshake, …).
    case handshakeFailed(String)
    /// A join was answered with a status other than `ok`.
    case replyError(ReplyStatus, JSONValue)
    /// No reply within the timeout (join, push, leave or a wait helper).
    case timeout
    /// The operation needs an open connection.
    case notConnected
    /// The connection closed (or ``PhoenixClient/disconnect(code:reason:)`` was
    /// called) while a reply was awaited.
    case disconnected
    /// A push on a channel that was never joined, or was left.
    case notJoined
    /// The channel was closed (its leave, or a server `phx_close`) while a reply
    /// or join was awaited.
    case channelClosed
    /// The channel crashed on the server (`phx_error`) while a reply was awaited.
    case channelError
    /// A message could not be encoded by the serializer.
    case encodingFailed(ProtocolError)
    /// The server's reply does not have the expected shape.
    case unexpectedReply(String)

    /// The HTTP status of an ``upgradeRefused(status:body:)`` error.
    public var httpStatus: Int? {
        if case .upgradeRefused(let status, _) = self { return status }
        return nil
    }

    /// The response of a ``replyError(_:_:)``.
    public var replyResponse: JSONValue? {
        if case .replyError(_, let response) = self { return response }
        return nil
    }

    public var description: String {
        switch self {
        case .upgradeRefused(let status, let body):
            return body.isEmpty ? "upgrade refused with HTTP \(status)" : "upgrade refused with HTTP \(status): \(body)"
        case .handshakeFailed(let detail): return "WebSocket handshake failed: \(detail)"
        case .replyError(let status, let response): return "reply \(status): \(response)"
        case .timeout: return "timed out"
        case .notConnected: return "not connected"
        case .disconnected: return "disconnected"
        case .notJoined: return "channel not joined"
        case .channelClosed: return "channel closed"
        case .channelError: return "channel crashed on the server"
        case .encodingFailed(let error): return "cannot encode message: \(error)"
        case .unexpectedReply(let detail): return "unexpected reply: \(detail)"
        }
    }
}
