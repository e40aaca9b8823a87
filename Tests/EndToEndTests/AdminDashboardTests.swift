import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The dashboard page of the admin listener, as HTTP sees it (the page in a
/// browser is `DashboardBrowserTests`, on a three-node cluster).
@Suite("Admin dashboard page")
struct AdminDashboardTests {
    @Test func servedOnTheAdminListenerOnlyWithoutTheTokenAndLockedDown() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let adminPort = try #require(server.adminPort)
            for path in ["/", "/dashboard", "/dashboard?x=1"] {
                let page = try await RawHTTP.request(port: adminPort, path: path)
                #expect(page.status == 200, "\(path)")
                #expect(page.header("content-type") == "text/html; charset=utf-8")
                #expect(page.body.hasPrefix("<!doctype html>"))
                let policy = try #require(page.header("content-security-policy"))
                #expect(policy.contains("frame-ancestors 'none'"))
                #expect(policy.contains("connect-src 'self'"))
                #expect(policy.contains("script-src 'sha256-"))
                #expect(!policy.contains("script-src 'unsafe-inline'"))
                #expect(page.header("x-frame-options") == "DENY")
                #expect(page.header("cache-control") == "no-store")
                // No cross-origin reading of the API from the page's listener.
                #expect(page.header("access-control-allow-origin") == nil)
                #expect(!page.body.contains(AdminTestSupport.token))
            }
            // Only the page is open: the API still wants the token, for any method.
            #expect(try await AdminTestSupport.request(server, path: "/cluster", token: nil).status == 401)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/", body: "{}", token: nil).status == 401)
            #expect(try await AdminTestSupport.request(server, method: "POST", path: "/dashboard", body: "{}", token: nil).status == 401)
            let preflight = try await RawHTTP.request(
                port: adminPort, method: "OPTIONS", path: "/drain", headers: ["Origin: http://evil.example", "Access-Control-Request-Method: POST"]
            )
            #expect(preflight.status == 401)
            #expect(preflight.header("access-control-allow-origin") == nil)
            // Never on the public port.
            #expect(try await RawHTTP.request(port: server.localPort!, path: "/dashboard").status == 404)
        }
    }

    @Test func theClusterViewCountsLongPollsApart() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let webSocket = try await TestServer.client(server)
            let longPoll = try await RawLongPoll.open(port: server.localPort!)
            let cluster = try #require(try await AdminTestSupport.request(server, path: "/cluster").json)
            let node = try #require(cluster["nodes"]?.arrayValue?.first)
            #expect(node["connections"]?.intValue == 2)
            #expect(node["longpoll_connections"]?.intValue == 1)
            _ = longPoll
            await webSocket.disconnect()
        }
    }
}
