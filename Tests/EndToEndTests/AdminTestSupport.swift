import Foundation
import Switchboard
import SwitchboardClient

/// Admin API requests against a test server started with ``AdminTestSupport/configure(_:)``.
enum AdminTestSupport {
    static let token = "admin-test-token"

    /// Enables the admin listener on a free port with ``token``.
    static func configure(_ configuration: inout ServerConfiguration) {
        configuration.admin.port = 0
        configuration.admin.token = token
    }

    /// Sends one admin request; `token: nil` sends none.
    static func request(
        _ server: SwitchboardServer, method: String = "GET", path: String, body: String? = nil, token: String? = token
    ) async throws -> (status: Int, json: JSONValue?) {
        var headers: [String] = []
        if let token { headers.append("Authorization: Bearer \(token)") }
        if body != nil { headers.append("Content-Type: application/json") }
        let response = try await RawHTTP.request(port: server.adminPort!, method: method, path: path, headers: headers, body: body)
        let text = response.body.trimmingCharacters(in: .whitespacesAndNewlines)
        return (response.status, text.isEmpty ? nil : try? JSONValue(parsing: text))
    }

    /// `GET /metrics` on the admin listener, with the admin token.
    static func scrape(_ server: SwitchboardServer) async throws -> RawHTTP.Response {
        try await RawHTTP.request(port: server.adminPort!, path: "/metrics", headers: ["Authorization: Bearer \(token)"])
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    /// Connects `count` clients, a few at a time, each joined to `topic`.
    static func connectClients(
        _ server: SwitchboardServer, count: Int, topic: String, reconnect: Bool = true
    ) async throws -> [(PhoenixClient, ClientChannel)] {
        try await withThrowingTaskGroup(of: (PhoenixClient, ClientChannel).self) { group in
            var clients: [(PhoenixClient, ClientChannel)] = []
            for index in 0..<count {
                if index >= 8, let next = try await group.next() { clients.append(next) }
                group.addTask {
                    let client = try await TestServer.client(server, params: ["user_id": "\(index)"]) { $0.reconnect = reconnect }
                    let channel = client.channel(topic)
                    _ = try await channel.join()
                    return (client, channel)
                }
            }
            for try await next in group { clients.append(next) }
            return clients
        }
    }
}
