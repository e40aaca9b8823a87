import NIOWebSocket

/// The WebSocket close codes Switchboard sends. phoenix.js reconnects after
/// every close except 1000, so none of these is 1000.
public enum CloseCode {
    /// 1001: the socket was disconnected by id; the client may come back.
    public static let goingAway = WebSocketErrorCode.goingAway
    /// 1002: a frame was not a valid Phoenix message.
    public static let protocolError = WebSocketErrorCode.protocolError
    /// 1007: a text frame, or a close frame's reason, was not UTF-8.
    public static let invalidText = WebSocketErrorCode.dataInconsistentWithMessage
    /// 1008: the client broke a policy: it sent messages faster than
    /// ``ServerConfiguration/Limits/inboundMessageRate`` allows (reason
    /// `"message rate limit exceeded"`).
    public static let policyViolation = WebSocketErrorCode.policyViolation
    /// 1009: a message exceeded the frame size limit.
    public static let messageTooLarge = WebSocketErrorCode.messageTooLarge
    /// 1012: the node is restarting, draining or shedding; reconnect elsewhere.
    public static let serviceRestart = WebSocketErrorCode(codeNumber: 1012)
    /// 4000: nothing was heard from the client within the heartbeat timeout.
    public static let heartbeatTimeout = WebSocketErrorCode(codeNumber: 4000)
    /// 4008: the client read too slowly and its outbound queue passed
    /// ``ServerConfiguration/Limits/maxOutboundBytes``.
    public static let slowConsumer = WebSocketErrorCode(codeNumber: 4008)
}

extension CloseCode {
    /// The close code and reason text that tell a WebSocket client `reason`.
    static func closing(for reason: DisconnectReason) -> (code: WebSocketErrorCode, text: String) {
        switch reason {
        case .serviceRestart(let detail): (serviceRestart, detail)
        case .disconnected: (goingAway, "disconnected")
        case .heartbeatTimeout: (heartbeatTimeout, "heartbeat timeout")
        case .slowConsumer: (slowConsumer, "too slow")
        case .rateLimited: (policyViolation, "message rate limit exceeded")
        case .malformedMessage: (protocolError, "malformed message")
        case .protocolError(let detail): (protocolError, detail)
        case .messageTooLarge: (messageTooLarge, "")
        case .invalidText: (invalidText, "invalid UTF-8")
        }
    }

    /// Whether a peer may send `code` in a close frame (RFC 6455 §7.4): the
    /// defined codes 1000–1003 and 1007–1011, the registered 1012–1014, and
    /// 3000–4999 for libraries and applications. Never 1005, 1006 or 1015,
    /// which only report what happened locally.
    static func mayBeSent(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
