import Foundation
import Switchboard
import SwitchboardClient
import Testing

/// Token-authenticated sockets over the wire: both token transports, every
/// refusal as HTTP 403 with an empty body and a logged reason (never the
/// token), and `user:<id>` joins authorized by the token's `sub`.
@Suite("Security: tokens end to end", .timeLimit(.minutes(2)))
struct SecurityTokenEndToEndTests {
    static func base64(_ token: String, urlSafe: Bool, padded: Bool) -> String {
        var text = Data(token.utf8).base64EncodedString()
        if urlSafe { text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
        if !padded { text = text.replacingOccurrences(of: "=", with: "") }
        return text
    }

    @Test func aTokenInTheConnectParamAuthorizesItsOwnUserTopic() async throws {
        try await withSecurityServer { server in
            let token = try await SecurityTestServer.token("42")
            // The user_id param is not believed: the token's sub is the user.
            let client = server.client(params: ["token": token, "user_id": "43"])
            try await client.connect()
            _ = try await client.channel("user:42").join()
            await #expect {
                try await client.channel("user:43").join()
            } throws: { error in
                (error as? ClientError)?.replyResponse == ["reason": "unauthorized"]
            }
            _ = try await client.channel("room:lobby").join()
            await client.disconnect()
        }
    }

    @Test func aTokenSentAsPhoenixJSAuthTokenIsAccepted() async throws {
        try await withSecurityServer { server in
            let token = try await SecurityTestServer.token("7")
            let client = server.client(authToken: token)
            try await client.connect()
            _ = try await client.channel("user:7").join()
            await client.disconnect()
            #expect(server.logs.all.allSatisfy { !$0.contains(token) })
        }
    }

    @Test(arguments: [(true, false), (false, false), (true, true), (false, true)])
    func theSubprotocolTokenMayUseEitherAlphabetPaddedOrNot(urlSafe: Bool, padded: Bool) async throws {
        try await withSecurityServer { server in
            // A subject whose token's base64 needs "+", "/" and padding in the standard alphabet.
            var token = ""
            for suffix in 0..<500 {
                token = try await SecurityTestServer.token("u\(suffix)")
                let standard = Self.base64(token, urlSafe: false, padded: true)
                if standard.contains(where: { $0 == "+" || $0 == "/" }), standard.hasSuffix("=") { break }
            }
            let encoded = Self.base64(token, urlSafe: urlSafe, padded: padded)
            let response = try await server.upgradeStatus(headers: ["Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.\(encoded)"])
            #expect(response.status == 101)
            #expect(response.header("Sec-WebSocket-Protocol") == "phoenix")
        }
    }

    @Test func everyRefusalIs403WithAnEmptyBodyAndALoggedReason() async throws {
        try await withSecurityServer { server in
            let now = Date()
            let cases: [(String, String?, String)] = [
                ("missing", nil, ""),
                ("invalid", "not-a-token", ""),
                ("invalid", try await SecurityTestServer.token(secret: "some-other-secret-that-is-long-enough-xyz"), ""),
                ("expired", try await SecurityTestServer.token(ttl: .seconds(60), at: now - 600), ""),
                ("expired", try await SecurityTestServer.token(ttl: .seconds(86_400 * 3), at: now - 86_400 * 2), ""),
                ("not_yet_valid", try await SecurityTestServer.token(at: now + 600), ""),
                ("wrong_namespace", try await SecurityTestServer.token(namespace: "admin_socket"), ""),
            ]
            for (reason, token, _) in cases {
                let before = server.logs.lines(containing: "reason=\(reason)").count
                let query = token.map { "&token=\($0)" } ?? ""
                let response = try await server.upgradeStatus(query: query)
                #expect(response.status == 403, "\(reason)")
                #expect(response.body.isEmpty, "\(reason)")
                #expect(server.logs.lines(containing: "reason=\(reason)").count == before + 1, "\(reason)")
                // The same token as phoenix.js would send it.
                if let token {
                    let encoded = Self.base64(token, urlSafe: true, padded: false)
                    let viaHeader = try await server.upgradeStatus(headers: ["Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.\(encoded)"])
                    #expect(viaHeader.status == 403, "\(reason)")
                    #expect(viaHeader.body.isEmpty)
                    #expect(server.logs.all.allSatisfy { !$0.contains(token) }, "the token is never logged")
                }
            }
        }
    }

    @Test func anUndecodableSubprotocolTokenIsInvalidEvenWithAParam() async throws {
        try await withSecurityServer { server in
            let good = try await SecurityTestServer.token()
            let response = try await server.upgradeStatus(query: "&token=\(good)", headers: ["Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.%%%"])
            #expect(response.status == 403)
            #expect(server.logs.lines(containing: "reason=invalid").count == 1)
        }
    }

    @Test func theClientSeesA403() async throws {
        try await withSecurityServer { server in
            let client = server.client(authToken: "forged")
            await #expect {
                try await client.connect()
            } throws: { error in
                (error as? ClientError)?.httpStatus == 403
            }
        }
    }
}
