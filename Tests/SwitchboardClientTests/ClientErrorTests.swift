import SwitchboardClient
import SwitchboardProtocol
import Testing

/// `ClientError` is a struct around a private enum: callers compare it with
/// its static members and read details through accessors.
struct ClientErrorTests {
    @Test func staticMembersMatchInCatchClauses() {
        func kind(of error: any Error) -> String {
            do {
                throw error
            } catch ClientError.timeout {
                return "timeout"
            } catch ClientError.disconnected {
                return "disconnected"
            } catch {
                return "other"
            }
        }
        #expect(kind(of: ClientError.timeout) == "timeout")
        #expect(kind(of: ClientError.disconnected) == "disconnected")
        #expect(kind(of: ClientError.notJoined) == "other")
        #expect(kind(of: ClientError.handshakeFailed("x")) == "other")
    }

    @Test func accessorsReadTheDetailsOfTheirKindOnly() {
        let refused = ClientError.replyError(.error, ["reason": "unauthorized"])
        #expect(refused.replyStatus == .error)
        #expect(refused.replyResponse == ["reason": "unauthorized"])
        #expect(refused.httpStatus == nil)
        #expect(refused.name == "reply_error")
        let upgrade = ClientError.upgradeRefused(status: 403, body: "")
        #expect(upgrade.httpStatus == 403)
        #expect(upgrade.replyStatus == nil)
        #expect(upgrade.description == "upgrade refused with HTTP 403")
        #expect(ClientError.handshakeFailed("closed").handshakeFailure == "closed")
        #expect(ClientError.timeout.handshakeFailure == nil)
        #expect(ClientError.replyError(.error, [:]) != ClientError.replyError(.ok, [:]))
    }
}
