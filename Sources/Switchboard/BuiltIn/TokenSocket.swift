import Logging

/// The socket of `switchboard serve` with `auth: token`: a connection needs a
/// valid signed token (``TokenVerifier``), sent as phoenix.js's `authToken`
/// option sends it (`Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.…`)
/// or in the `token` connect param. The token's `sub` becomes the `user_id`
/// assign (what ``UserChannel`` authorizes `user:<id>` joins against); a
/// `user_id` param is ignored. A refusal is HTTP 403, logged with its reason
/// (`missing`, `invalid`, `expired`, `not_yet_valid`, `wrong_namespace`),
/// never with the token.
public struct TokenSocket: Socket {
    /// The connect param that may carry the token.
    public static let tokenParam = "token"

    public let verifier: TokenVerifier
    private let logger: Logger

    public init(verifier: TokenVerifier, logger: Logger = Logger(label: "switchboard")) {
        self.verifier = verifier
        self.logger = logger
    }

    public func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult {
        let verification: TokenVerification
        if let token = info.authToken {
            verification = await verifier.verify(token)
        } else if Self.offersUndecodableToken(info) {
            verification = .rejected(.invalid)
        } else {
            verification = await verifier.verify(params[Self.tokenParam])
        }
        switch verification {
        case .valid(let claims):
            return .ok([DemoSocket.userIDKey: .string(claims.subject)])
        case .rejected(let reason):
            logger.notice("socket token refused", metadata: ["reason": "\(reason)", "peer": "\(info.peerAddress ?? "-")"])
            return .error
        }
    }

    /// `"user_socket:<sub>"`.
    public func id(assigns: Assigns) -> String? {
        DemoSocket().id(assigns: assigns)
    }

    /// Whether the request offers a `base64url.bearer.phx.` subprotocol whose
    /// token could not be decoded (so the `token` param must not stand in for it).
    private static func offersUndecodableToken(_ info: ConnectInfo) -> Bool {
        info.headers.contains { $0.name == "sec-websocket-protocol" && $0.value.contains("base64url.bearer.phx.") }
    }
}
