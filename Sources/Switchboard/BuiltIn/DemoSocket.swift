/// A socket that accepts every connection and believes what the client says:
/// the `user_id` connect parameter, when present, becomes the `user_id`
/// assign. It is what `switchboard serve` uses with `auth: none`, for local
/// demos only — anyone can claim any user.
///
/// ```swift
/// // ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0&user_id=42
/// // → assigns ["user_id": "42"], id "user_socket:42"
/// ```
public struct DemoSocket: Socket {
    /// The assign (and connect parameter) that names the user.
    public static let userIDKey = "user_id"

    public init() {}

    /// Accepts the connection; copies a non-empty `user_id` parameter into the assigns.
    public func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult {
        var assigns: Assigns = [:]
        if let userID = params[Self.userIDKey], !userID.isEmpty {
            assigns[Self.userIDKey] = .string(userID)
        }
        return .ok(assigns)
    }

    /// `"user_socket:<user_id>"` for a socket that named its user, `nil` otherwise.
    public func id(assigns: Assigns) -> String? {
        guard let userID = assigns[Self.userIDKey].flatMap(UserChannel.userIDString) else { return nil }
        return "user_socket:\(userID)"
    }
}
