import SwitchboardProtocol

/// Errors thrown by ``PhoenixClient`` and ``ClientChannel``.
///
/// A struct around a private enum, so a new kind of error is not a breaking
/// change: compare with the static members (`catch ClientError.timeout`,
/// `error == .disconnected`), read the details through the accessors
/// (``httpStatus``, ``replyStatus``, ``replyResponse``, ``handshakeFailure``),
/// or count errors by ``name``.
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Base: Sendable, Equatable {
        case upgradeRefused(status: Int, body: String)
        case handshakeFailed(String)
        case replyError(ReplyStatus, JSONValue)
        case timeout
        case notConnected
        case disconnected
        case notJoined
        case channelClosed
        case channelError
        case encodingFailed(ProtocolError)
        case unexpectedReply(String)
        case longPollStatus(Int)
        case longPollFailed(String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// The server answered the upgrade request with an HTTP status other than
    /// 101 (403 for a refused connect or origin, 400, 404, …); `body` is the
    /// start of the response body.
    public static func upgradeRefused(status: Int, body: String) -> ClientError {
        ClientError(.upgradeRefused(status: status, body: body))
    }

    /// The upgrade failed after the server's response (bad `Sec-WebSocket-Accept`,
    /// connection closed during the handshake, …).
    public static func handshakeFailed(_ detail: String) -> ClientError {
        ClientError(.handshakeFailed(detail))
    }

    /// A join was answered with a status other than `ok`.
    public static func replyError(_ status: ReplyStatus, _ response: JSONValue) -> ClientError {
        ClientError(.replyError(status, response))
    }

    /// No reply within the timeout (join, push, leave or a wait helper).
    public static let timeout = ClientError(.timeout)

    /// The operation needs an open connection.
    public static let notConnected = ClientError(.notConnected)

    /// The connection closed (or ``PhoenixClient/disconnect(code:reason:)`` was
    /// called) while a reply was awaited.
    public static let disconnected = ClientError(.disconnected)

    /// A push on a channel that was never joined, or was left.
    public static let notJoined = ClientError(.notJoined)

    /// The channel was closed (its leave, or a server `phx_close`) while a reply
    /// or join was awaited.
    public static let channelClosed = ClientError(.channelClosed)

    /// The channel crashed on the server (`phx_error`) while a reply was awaited.
    public static let channelError = ClientError(.channelError)

    /// A message could not be encoded by the serializer.
    public static func encodingFailed(_ detail: ProtocolError) -> ClientError {
        ClientError(.encodingFailed(detail))
    }

    /// The server's reply does not have the expected shape.
    public static func unexpectedReply(_ detail: String) -> ClientError {
        ClientError(.unexpectedReply(detail))
    }

    /// A long-poll answer carried a `status` other than the expected one:
    /// 403 (the server refused the connect), 410 (the session is gone), 500,
    /// or one the protocol does not know.
    public static func longPollStatus(_ status: Int) -> ClientError {
        ClientError(.longPollStatus(status))
    }

    /// A long-poll request got no usable answer: connection error, no answer
    /// within ``PhoenixClient/Configuration/longPollTimeout``, or a body that is
    /// not a long-poll answer.
    public static func longPollFailed(_ detail: String) -> ClientError {
        ClientError(.longPollFailed(detail))
    }

    /// The `status` of a ``longPollStatus(_:)`` error.
    public var longPollStatus: Int? {
        if case .longPollStatus(let status) = base { return status }
        return nil
    }

    /// The HTTP status of an ``upgradeRefused(status:body:)`` error.
    public var httpStatus: Int? {
        if case .upgradeRefused(let status, _) = base { return status }
        return nil
    }

    /// The status of a ``replyError(_:_:)``.
    public var replyStatus: ReplyStatus? {
        if case .replyError(let status, _) = base { return status }
        return nil
    }

    /// The response of a ``replyError(_:_:)``.
    public var replyResponse: JSONValue? {
        if case .replyError(_, let response) = base { return response }
        return nil
    }

    /// What went wrong, for a ``handshakeFailed(_:)`` error.
    public var handshakeFailure: String? {
        if case .handshakeFailed(let detail) = base { return detail }
        return nil
    }

    /// A short, stable name of the kind of error, for counting them:
    /// `upgrade_refused`, `handshake_failed`, `reply_error`, `timeout`,
    /// `not_connected`, `disconnected`, `not_joined`, `channel_closed`,
    /// `channel_error`, `encoding_failed`, `unexpected_reply`, `long_poll_status`,
    /// `long_poll_failed`.
    public var name: String {
        switch base {
        case .upgradeRefused: "upgrade_refused"
        case .handshakeFailed: "handshake_failed"
        case .replyError: "reply_error"
        case .timeout: "timeout"
        case .notConnected: "not_connected"
        case .disconnected: "disconnected"
        case .notJoined: "not_joined"
        case .channelClosed: "channel_closed"
        case .channelError: "channel_error"
        case .encodingFailed: "encoding_failed"
        case .unexpectedReply: "unexpected_reply"
        case .longPollStatus: "long_poll_status"
        case .longPollFailed: "long_poll_failed"
        }
    }

    /// Lets `catch ClientError.timeout` and `case ClientError.disconnected`
    /// match a thrown error.
    public static func ~= (pattern: ClientError, error: any Error) -> Bool {
        (error as? ClientError) == pattern
    }

    public var description: String {
        switch base {
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
        case .longPollStatus(let status): return "long-poll answer with status \(status)"
        case .longPollFailed(let detail): return "long-poll request failed: \(detail)"
        }
    }
}
