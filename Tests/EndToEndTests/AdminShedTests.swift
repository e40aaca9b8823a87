import Foundation
import Switchboard
import SwitchboardClient
import Synchronization
import Testing

/// Shedding through the admin API with many clients.
@Suite("Admin shedding")
struct AdminShedTests {
    @Test(.timeLimit(.minutes(1)))
    func shedsExactlyTheCountSpreadOverTheWindowAndClientsComeBack() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let clients = try await AdminTestSupport.connectClients(server, count: 300, topic: "room:shed")
            #expect(server.connectionCount == 300)
            let closes = Mutex<[(ContinuousClock.Instant, UInt16?)]>([])
            for (client, _) in clients {
                client.onClose { info in closes.withLock { $0.append((.now, info.code)) } }
            }
            try await Task.sleep(for: .milliseconds(100))  // the observers are registered on the client loops
            let started = ContinuousClock.now
            let response = try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"count":100,"over":"2s"}"#)
            #expect(response.status == 200)
            #expect(response.json?["shedding"]?.intValue == 100)

            try await Task.sleep(for: .milliseconds(1000))
            let halfway = closes.withLock { $0.count }
            try await Task.sleep(for: .milliseconds(1800))
            let recorded = closes.withLock { $0 }
            #expect(recorded.count == 100)
            #expect(recorded.allSatisfy { $0.1 == 1012 })
            // Spread evenly: about half by the middle of the window, the last near its end.
            #expect(halfway >= 35 && halfway <= 65, "closed by 1 s: \(halfway)")
            if let first = recorded.map(\.0).min(), let last = recorded.map(\.0).max() {
                #expect(first - started < .milliseconds(500))
                #expect(last - first > .milliseconds(1500))
            }
            let stats = try await AdminTestSupport.request(server, path: "/stats")
            #expect(stats.json?["shed"]?["total"]?.intValue == 100)

            // Every client reconnects and rejoins its topic.
            #expect(await AdminTestSupport.eventually(timeout: .seconds(10)) {
                guard server.connectionCount == 300 else { return false }
                for (_, channel) in clients where await channel.state != .joined { return false }
                return true
            })
            let channels = try await AdminTestSupport.request(server, path: "/stats").json?["channels"]?.intValue
            #expect(channels == 300)
            for (client, _) in clients { await client.disconnect() }
        }
    }

    @Test func shedsAPercentage() async throws {
        try await withServer(AdminTestSupport.configure) { server in
            let clients = try await AdminTestSupport.connectClients(server, count: 20, topic: "room:percent", reconnect: false)
            let response = try await AdminTestSupport.request(server, method: "POST", path: "/shed", body: #"{"percent":25,"over":"200ms"}"#)
            #expect(response.json?["shedding"]?.intValue == 5)
            #expect(await AdminTestSupport.eventually { server.connectionCount == 15 })
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.connectionCount == 15)
            for (client, _) in clients { await client.disconnect() }
        }
    }
}
