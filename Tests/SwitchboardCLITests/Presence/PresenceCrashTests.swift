import Foundation
import Switchboard
import Testing
@testable import SwitchboardTesting

/// Presence when a node dies without a word: real `switchboard serve`
/// processes on one redis-server, one of them killed with SIGKILL.
@Suite("Presence across crashes", .serialized)
struct PresenceCrashTests {
    static let rooms = (0..<20).map { "room:crash\($0)" }
    static let apiKey = "presence-crash-key"

    /// A node with presence on the shared Redis.
    static func startNode(_ name: String, redisPort: Int) async throws -> (SwitchboardProcess, Int) {
        let node = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0", "--admin-port", "0", "--node", name, "--api-key", apiKey,
             "--adapter", "redis", "--redis-url", "redis://127.0.0.1:\(redisPort)", "--log-level", "info"],
            environment: ["SWITCHBOARD_PRESENCE": "true", "SWITCHBOARD_LIMITS_MESSAGE_RATE": "0"]
        )
        return (node, try await node.listeningPort())
    }

    /// `users` sockets on `port`, each joined to every room: one presence
    /// per user and room.
    static func join(users: [String], port: Int) async throws -> [RawWebSocket] {
        try await withThrowingTaskGroup(of: RawWebSocket.self) { group in
            for user in users {
                group.addTask {
                    let socket = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=\(user)")
                    for (index, room) in rooms.enumerated() {
                        try await socket.send(#"["\#(index)","\#(index)","\#(room)","phx_join",{}]"#)
                    }
                    // Each join's reply and presence_state, then diffs: read
                    // until every join was answered.
                    var replies = 0
                    while replies < rooms.count {
                        if try await socket.receiveText().contains(#""phx_reply""#) { replies += 1 }
                    }
                    return socket
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// The keys `GET /api/presence` lists on `port`, room by room.
    static func listed(port: Int) async throws -> [String: Set<String>] {
        var listed: [String: Set<String>] = [:]
        for room in rooms {
            let response = try await PlainHTTP.request(
                port: port, path: "/api/presence?topic=\(room)", headers: ["Authorization": "Bearer \(apiKey)"]
            )
            guard response.status == 200 else { throw RawTCPError("GET /api/presence: \(response.status) \(response.body)") }
            let keys = try JSONValue(parsing: response.body)["presences"]?.objectValue?.keys
            listed[room] = Set(keys ?? [])
        }
        return listed
    }

    /// Polls `port`'s lists every 50 ms until every room lists exactly `users`; returns how long that took.
    static func waitUntilListed(_ users: Set<String>, port: Int, within limit: Duration) async throws -> Duration? {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < limit {
            if try await listed(port: port).values.allSatisfy({ $0 == users }) { return ContinuousClock.now - started }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test("kill -9 of a node with 1,000 presences: they leave everywhere within 5 s; 20 crash/restart cycles leave no ghost")
    func crashedNodesLeaveNoGhost() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("presence-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let redisPort = try LoopbackPorts.free()
        let redis = try await BackgroundProcess.redisServer(port: redisPort, directory: directory)
        defer { redis.kill() }

        let (watcher, watcherPort) = try await Self.startNode("watcher", redisPort: redisPort)
        let watcherUsers = ["w0", "w1"]
        let watcherSockets = try await Self.join(users: watcherUsers, port: watcherPort)
        defer { for socket in watcherSockets { socket.close() } }

        // 50 users in 20 rooms: 1,000 presences on the node that dies.
        let (doomed, doomedPort) = try await Self.startNode("doomed", redisPort: redisPort)
        let users = (0..<50).map { "u\($0)" }
        let sockets = try await Self.join(users: users, port: doomedPort)
        let everyone = Set(users + watcherUsers)
        #expect(try await Self.waitUntilListed(everyone, port: watcherPort, within: .seconds(5)) != nil)

        doomed.kill()
        let gone = try await Self.waitUntilListed(Set(watcherUsers), port: watcherPort, within: .seconds(10))
        for socket in sockets { socket.close() }
        print("presence: 1,000 presences of a node killed with SIGKILL left the other node's lists after \(gone.map { "\($0)" } ?? "-")")
        #expect(gone != nil && gone! < .seconds(5), "1,000 presences of a killed node left after \(gone.map { "\($0)" } ?? "more than 10 s")")

        // A node killed and started again under the same name, 20 times: each
        // life's presences replace the last's, never add to them.
        for cycle in 0..<20 {
            let (node, port) = try await Self.startNode("phoenix", redisPort: redisPort)
            let lifeUsers = ["c\(cycle)a", "c\(cycle)b"]
            let lifeSockets = try await Self.join(users: lifeUsers, port: port)
            let listed = try await Self.waitUntilListed(Set(lifeUsers + watcherUsers), port: watcherPort, within: .seconds(5))
            if listed == nil {
                let seen = try await Self.listed(port: watcherPort)[Self.rooms[0]] ?? []
                Issue.record("cycle \(cycle): the watcher lists \(seen.sorted()), not \((lifeUsers + watcherUsers).sorted())")
            }
            node.kill()
            for socket in lifeSockets { socket.close() }
            guard listed != nil else { break }
        }
        #expect(try await Self.waitUntilListed(Set(watcherUsers), port: watcherPort, within: .seconds(10)) != nil, "the last life's presences left")
        _ = watcher
    }
}
