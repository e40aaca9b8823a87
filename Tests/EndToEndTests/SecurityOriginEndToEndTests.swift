import Foundation
import NIOHTTP1
import Switchboard
import SwitchboardClient
import Testing

/// `check_origin` over the wire: refusals are HTTP 403 with an empty body
/// and exactly one log line naming the origin.
@Suite("Security: origins end to end", .timeLimit(.minutes(2)))
struct SecurityOriginEndToEndTests {
    static func status(_ server: SecurityTestServer, origin: String?, path: String = "/open/websocket", headers: [String] = []) async throws -> RawHTTP.Response {
        try await server.upgradeStatus(path: path, headers: (origin.map { ["Origin: \($0)"] } ?? []) + headers)
    }

    @Test func connAllowsTheRequestsOwnOriginOnly() async throws {
        try await withSecurityServer(openCheckOrigin: .conn) { server async throws in
            let own = "http://127.0.0.1:\(server.port)"
            #expect(try await Self.status(server, origin: nil).status == 101)
            #expect(try await Self.status(server, origin: own).status == 101)
            for origin in ["https://127.0.0.1:\(server.port)", "http://127.0.0.1:1", "http://localhost:\(server.port)", "null", "http://evil.example"] {
                let before = server.logs.lines(containing: "socket origin refused").count
                let response = try await Self.status(server, origin: origin)
                #expect(response.status == 403, "\(origin)")
                #expect(response.body.isEmpty)
                let lines = server.logs.lines(containing: "socket origin refused")
                #expect(lines.count == before + 1, "one log line per refusal")
                #expect(lines.last?.contains(#"origin="\#(origin)""#) == true, "\(lines.last ?? "")")
            }
        }
    }

    @Test func forwardedHeadersCountOnlyFromTrustedProxies() async throws {
        let forwarded = ["X-Forwarded-Proto: https", "X-Forwarded-Host: chat.example.com"]
        try await withSecurityServer(openCheckOrigin: .conn) { server async throws in
            #expect(try await Self.status(server, origin: "https://chat.example.com", headers: forwarded).status == 403)
        }
        try await withSecurityServer(openCheckOrigin: .conn, { $0.trustedProxies = TrustedProxies(parsing: "127.0.0.0/8")! }) { server async throws in
            #expect(try await Self.status(server, origin: "https://chat.example.com", headers: forwarded).status == 101)
            #expect(try await Self.status(server, origin: "http://chat.example.com", headers: forwarded).status == 403)
        }
    }

    @Test func anAllowListOverTheWire() async throws {
        let check = try CheckOrigin(parsing: "https://app.example.com, //*.example.org, //localhost:4000, chrome-extension://abc")
        try await withSecurityServer(openCheckOrigin: check) { server async throws in
            let expectations: [(String, Int)] = [
                ("https://app.example.com", 101), ("http://app.example.com", 403), ("https://app.example.com:8443", 403),
                ("https://example.org", 101), ("http://deep.sub.example.org:9", 101),
                ("https://example.org.evil.com", 403), ("https://evilexample.org", 403),
                ("http://localhost:4000", 101), ("https://localhost:4000", 101), ("http://localhost:4001", 403),
                ("chrome-extension://abc", 101), ("chrome-extension://abd", 403),
                ("null", 403), ("file://", 403), ("https://app.example.com/", 403),
            ]
            for (origin, status) in expectations {
                #expect(try await Self.status(server, origin: origin).status == status, "\(origin)")
            }
        }
    }

    @Test func trueComparesWithThePublicHost() async throws {
        try await withSecurityServer(openCheckOrigin: .publicHost, { $0.publicHost = "chat.example.com" }) { server async throws in
            #expect(try await Self.status(server, origin: "https://chat.example.com").status == 101)
            #expect(try await Self.status(server, origin: "http://chat.example.com:8080").status == 101)
            #expect(try await Self.status(server, origin: "https://chat.example.com.evil.com").status == 403)
        }
    }

    @Test func falseAllowsAnything() async throws {
        try await withSecurityServer(openCheckOrigin: .disabled) { server async throws in
            #expect(try await Self.status(server, origin: "null").status == 101)
            #expect(try await Self.status(server, origin: "https://evil.example").status == 101)
        }
    }

    @Test func aClientWithAForeignOriginIsRefusedBeforeItsToken() async throws {
        try await withSecurityServer { server in
            let token = try await SecurityTestServer.token()
            let client = server.client(authToken: token) { $0.headers = ["Origin": "https://evil.example"] }
            await #expect {
                try await client.connect()
            } throws: { error in
                (error as? ClientError)?.httpStatus == 403
            }
            let welcome = server.client(authToken: token) { $0.headers = ["Origin": "http://127.0.0.1:\(server.port)"] }
            try await welcome.connect()
            await welcome.disconnect()
        }
    }

    @Test func aCustomHookDecides() async throws {
        let hook = OriginCheckHook(name: "even-ports") { origin, _ in (origin.port ?? 1) % 2 == 0 }
        try await withSecurityServer(openCheckOrigin: .custom(hook)) { server async throws in
            #expect(try await Self.status(server, origin: "http://a.test:8000").status == 101)
            #expect(try await Self.status(server, origin: "http://a.test:8001").status == 403)
        }
    }
}
