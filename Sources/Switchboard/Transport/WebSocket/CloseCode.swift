import NIOWebSocket

/// The WebSocket close codes Switchboard sends. phoenix.js reconnects after
/// every close except 1000, so none of these is 1000.
public enum CloseCode {
    /// 1001: the socket was disconnected by id; the client may come back.
    public static let goingAway = WebSocketErrorCode.goingAway
    /// 1002: a frame was not a valid Phoenix message.
    public static let protocolError = WebSocketErrorCode.protocolError
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
        }
    }
}
