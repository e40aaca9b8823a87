import Switchboard
import Testing
@testable import switchboard

/// How `switchboard admin stats` shows the PubSub adapter's connections.
struct AdminStatsRenderingTests {
    @Test func theClusterTableNamesTheConnectionsThatAreDown() throws {
        let view = try JSONValue(parsing: """
            {"node":"a","connections":3,"nodes":[
              {"node":"a","version":"1","state":"serving","connections":2,"channels":2,"topics":1,"uptime_seconds":5,
               "pubsub_state":"reconnecting","pubsub_connections":[
                 {"name":"shard 10.0.0.21:6379 subscriber","state":"connected"},
                 {"name":"shard 10.0.0.22:6379 subscriber","state":"reconnecting"}]},
              {"node":"b","version":"1","state":"serving","connections":1,"channels":1,"topics":1,"uptime_seconds":5,
               "pubsub_state":"connected"}]}
            """)
        let lines = AdminStatsCommand.renderCluster(view).split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("a ") && $0.contains("reconnecting (shard 10.0.0.22:6379 subscriber)") }, "\(lines)")
        #expect(!lines.contains { $0.contains("10.0.0.21") })
        #expect(lines.contains { $0.hasPrefix("b ") && $0.contains(" connected ") }, "\(lines)")
    }

    @Test func statsListEveryConnection() {
        let stats: JSONValue = [
            "node": "a",
            "pubsub": [
                "adapter": "redis", "state": "reconnecting",
                "connections": [["name": "subscriber", "state": "reconnecting"], ["name": "publisher 0", "state": "connected"]],
            ],
        ]
        let text = AdminStatsCommand.render(stats)
        #expect(text.contains("pubsub       redis: reconnecting\n             subscriber: reconnecting\n             publisher 0: connected\n"), "\(text)")
    }
}
