import Foundation
import Switchboard
import SwitchboardClient
import Synchronization
import SwitchboardTesting
import Testing

/// Presence on one node, on the wire as phoenix.js's `Presence` reads it.
@Suite("Presence")
struct PresenceTests {
    /// A room with presence, and a `status` event that updates the client's meta.
    struct StatusRoom: Channel {
        static var tracksPresence: Bool { true }

        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
            guard case .string(let user)? = context.assigns[DemoSocket.userIDKey] else { return .ok([:]) }
            try context.track(key: user, meta: ["status": payload["status"] ?? "online"])
            return .ok([:])
        }

        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            guard event == "status", case .json(let json) = payload, case .string(let user)? = context.assigns[DemoSocket.userIDKey] else {
                return .error(["reason": "unknown event"])
            }
            try context.update(key: user, meta: ["status": json["status"] ?? .null])
            return .ok()
        }
    }

    static func endpoints() -> [SocketEndpoint] {
        var router = ChannelRouter()
        router.channel("room:*") { StatusRoom() }
        return [SocketEndpoint(path: "/socket", socket: DemoSocket(), router: router)]
    }

    /// A client of user `user`, joined to `room:lobby` with `status`; returns
    /// it with the join reply and `presence_state` it got.
    static func joined(_ port: Int, user: String, status: String) async throws -> (RawWebSocket, [String]) {
        let socket = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=\(user)")
        try await socket.send(#"["1","1","room:lobby","phx_join",{"status":"\#(status)"}]"#)
        return (socket, try await socket.receiveTexts(2))
    }

    /// The refs in `text`, in order, and `text` with each replaced by `R1`, `R2`, … in order of appearance.
    static func numberingRefs(_ text: String, refs: inout [String]) -> String {
        var result = text
        let pattern = try! NSRegularExpression(pattern: #""(phx_ref|phx_ref_prev)":"([^"]+)""#)
        for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
            let ref = String(text[Range(match.range(at: 2), in: text)!])
            if !refs.contains(ref) { refs.append(ref) }
            result.replaceSubrange(Range(match.range(at: 2), in: result)!, with: "R\(refs.firstIndex(of: ref)! + 1)")
        }
        return result
    }

    /// Reads `socket`'s frames until a `presence_diff` that mentions `key`.
    static func diff(mentioning key: String, on socket: RawWebSocket) async throws -> String {
        while true {
            let text = try await socket.receiveText()
            let frame = try JSONValue(parsing: text)
            if frame[3] == "presence_diff", frame[4]?["joins"]?[key] != nil || frame[4]?["leaves"]?[key] != nil { return text }
        }
    }

    @Test("presence_state follows every join reply, then diffs in Phoenix's shapes: join, update, leave")
    func goldenFrames() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            var refs: [String] = []
            // Numbered as they first appear, reading the frames in the order below.
            func normalized(_ frames: [String]) -> [String] {
                frames.map { Self.numberingRefs($0, refs: &refs) }
            }

            let (alice, aliceJoin) = try await Self.joined(port, user: "alice", status: "online")
            let aliceFrames = normalized(aliceJoin)
            #expect(aliceFrames == [
                #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#,
                #"["1",null,"room:lobby","presence_state",{"alice":{"metas":[{"status":"online","phx_ref":"R1"}]}}]"#,
            ])

            let (bob, bobJoin) = try await Self.joined(port, user: "bob", status: "away")
            let bobFrames = normalized(bobJoin)
            #expect(bobFrames == [
                #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#,
                #"["1",null,"room:lobby","presence_state",{"alice":{"metas":[{"status":"online","phx_ref":"R1"}]},"bob":{"metas":[{"status":"away","phx_ref":"R2"}]}}]"#,
            ])
            // Bob's join reaches Alice (in one diff with her own, if that one had not gone yet).
            let bobJoined = try JSONValue(parsing: normalized([try await Self.diff(mentioning: "bob", on: alice)])[0])
            #expect(bobJoined[4]?["joins"]?["bob"] == ["metas": [["status": "away", "phx_ref": "R2"]]])
            #expect(bobJoined[4]?["leaves"] == [:])
            _ = try await Self.diff(mentioning: "bob", on: bob)

            // Every earlier change has gone out: the diffs from here are exact.
            try await bob.send(#"["1","2","room:lobby","status",{"status":"busy"}]"#)
            let update = #"[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"status":"busy","phx_ref":"R3","phx_ref_prev":"R2"}]}},"leaves":{"bob":{"metas":[{"status":"away","phx_ref":"R2"}]}}}]"#
            let bobUpdate = normalized(try await bob.receiveTexts(2))
            #expect(bobUpdate == [#"["1","2","room:lobby","phx_reply",{"status":"ok","response":{}}]"#, update])
            let aliceUpdate = normalized([try await alice.receiveText()])
            #expect(aliceUpdate == [update])

            try await bob.send(#"["1","3","room:lobby","phx_leave",{}]"#)
            let aliceLeave = normalized([try await alice.receiveText()])
            #expect(aliceLeave == [
                #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"status":"busy","phx_ref":"R3","phx_ref_prev":"R2"}]}}}]"#,
            ])
            #expect(refs.count == 3, "every meta has its own ref")
            #expect(server.presence.get(topic: "room:lobby", key: "alice").count == 1)
            #expect(server.presence.get(topic: "room:lobby", key: "bob").isEmpty)
            alice.close()
            bob.close()
        }
    }

    @Test("the fetch hook adds data beside metas: in presence_state, in both halves of a diff and in the list")
    func fetchAddsData() async throws {
        let fetch: PresenceFetch = { topic, presences in
            var fetched = presences
            for (key, presence) in presences {
                guard var object = presence.objectValue else { continue }
                object["user"] = ["name": .string(key.uppercased()), "topic": .string(topic)]
                fetched[key] = .object(object)
            }
            return fetched
        }
        try await withServer(endpoints: Self.endpoints(), { $0.presence.fetch = fetch }) { server in
            let port = server.localPort!
            let (alice, aliceJoin) = try await Self.joined(port, user: "alice", status: "online")
            let state = try JSONValue(parsing: aliceJoin[1])
            #expect(state[3] == "presence_state")
            #expect(state[4]?["alice"]?["user"] == ["name": "ALICE", "topic": "room:lobby"])
            #expect(state[4]?["alice"]?["metas"]?[0]?["status"] == "online")

            let (bob, _) = try await Self.joined(port, user: "bob", status: "away")
            let joined = try JSONValue(parsing: try await Self.diff(mentioning: "bob", on: alice))
            #expect(joined[4]?["joins"]?["bob"]?["user"]?["name"] == "BOB")
            bob.close()
            let left = try JSONValue(parsing: try await Self.diff(mentioning: "bob", on: alice))
            #expect(left[4]?["leaves"]?["bob"]?["user"]?["name"] == "BOB")
            #expect(left[4]?["joins"] == [:], "an empty half is not fetched")

            #expect(server.presence.list(topic: "room:lobby")["alice"]?["user"]?["name"] == "ALICE")
            alice.close()
        }
    }

    @Test("GET /api/presence lists a topic with the API key")
    func httpAPI() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            let (alice, _) = try await Self.joined(port, user: "alice", status: "online")
            let auth = ["Authorization: Bearer \(TestServer.apiKey)"]
            let listed = try await RawHTTP.request(port: port, path: "/api/presence?topic=room%3Alobby", headers: auth)
            #expect(listed.status == 200)
            let body = try JSONValue(parsing: listed.body.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(body["topic"] == "room:lobby")
            #expect(body["presences"]?["alice"]?["metas"]?[0]?["status"] == "online")
            #expect(try await RawHTTP.request(port: port, path: "/api/presence?topic=room:lobby").status == 401)
            #expect(try await RawHTTP.request(port: port, path: "/api/presence", headers: auth).status == 400)
            #expect(try await RawHTTP.request(port: port, method: "POST", path: "/api/presence?topic=x", headers: auth).status == 405)
            alice.close()
        }
    }

    /// A room whose join tracks the user, then, when the payload asks for
    /// it, waits for ``gate`` and refuses the join.
    struct RefusingRoom: Channel {
        static var tracksPresence: Bool { true }
        let gate: AsyncStream<Void>

        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
            guard case .string(let user)? = context.assigns[DemoSocket.userIDKey] else { return .ok([:]) }
            try context.track(key: user)
            guard payload["refuse"] == true else { return .ok([:]) }
            for await _ in gate { break }
            return .error(["reason": "refused"])
        }
    }

    @Test("a presence that comes and goes between two diffs leaves clients that saw it in their presence_state; a refused join's presence ends")
    func joinAndLeaveInOneWindow() async throws {
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        var router = ChannelRouter()
        router.channel("room:*") { RefusingRoom(gate: gate) }
        let endpoints = [SocketEndpoint(path: "/socket", socket: DemoSocket(), router: router)]
        // A long window, so the whole story happens within one diff.
        try await withServer(endpoints: endpoints, { $0.presence.batchWindow = .milliseconds(500) }) { server in
            let port = server.localPort!
            let refused = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=ghost")
            try await refused.send(#"["1","1","room:lobby","phx_join",{"refuse":true}]"#)
            #expect(await AdminTestSupport.eventually { server.presence.list(topic: "room:lobby").objectValue?["ghost"] != nil })

            // A client joins while "ghost" is tracked: its presence_state lists it.
            let (watcher, frames) = try await Self.joined(port, user: "watcher", status: "online")
            let state = try JSONValue(parsing: frames[1])
            #expect(state[4]?["ghost"] != nil)
            open.yield()
            #expect(try JSONValue(parsing: try await refused.receiveText())[4]?["status"] == "error")

            // The diffs take "ghost" out of the watcher's list: in one diff
            // with its join, when all of this happens within one window.
            var list = ClientPresence.syncState([:], state[4]!)
            var diffs: [String] = []
            while list.keys.contains("ghost"), diffs.count < 5, let text = try? await watcher.receiveText() {
                diffs.append(text)
                list = ClientPresence.syncDiff(list, try JSONValue(parsing: text)[4] ?? [:])
            }
            #expect(Array(list.keys) == ["watcher"], "the watcher's list after \(diffs)")
            #expect(server.presence.list(topic: "room:lobby").objectValue.map { Array($0.keys) } == ["watcher"])
            refused.close()
            watcher.close()
        }
    }

    @Test("clients joining while others join and leave all end with the true list")
    func joinersAmidChurnEndTrue() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            let views = ClientViews()
            var sockets: [String: RawWebSocket] = [:]
            var readers: [Task<Void, Never>] = []
            // Four waves of ten joins at once; in each, the first five of the last wave leave meanwhile.
            for wave in 0..<4 {
                let users = (0..<10).map { "w\(wave)u\($0)" }
                let leaving = wave == 0 ? [] : (0..<5).map { "w\(wave - 1)u\($0)" }
                try await withThrowingTaskGroup(of: (String, RawWebSocket)?.self) { group in
                    for user in users {
                        group.addTask {
                            let socket = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=\(user)")
                            try await socket.send(#"["1","1","room:lobby","phx_join",{}]"#)
                            return (user, socket)
                        }
                    }
                    for user in leaving {
                        let socket = sockets.removeValue(forKey: user)!
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
                            socket.close()
                            return nil
                        }
                    }
                    for try await case let (user, socket)? in group {
                        sockets[user] = socket
                        readers.append(Task { await views.follow(socket, as: user) })
                    }
                }
            }
            let truth = Set(sockets.keys)
            // A socket that closed mid-join has its presence end too.
            let converged = await AdminTestSupport.eventually {
                Set(server.presence.list(topic: "room:lobby").objectValue.map { Array($0.keys) } ?? []) == truth
                    && views.lists.withLock { lists in truth.allSatisfy { lists[$0].map { Set($0.keys) } == truth } }
            }
            let wrong = views.lists.withLock { lists in truth.filter { lists[$0].map { Set($0.keys) } != truth }.sorted() }
            #expect(converged, "lists that differ from the \(truth.count) present: \(wrong)")
            for socket in sockets.values { socket.close() }
            for reader in readers { await reader.value }
        }
    }

    @Test("a presence ends with its channel: socket closed, and a room that thousands join at once gets few diffs")
    func endsWithTheChannelAndBatches() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            let (watcher, _) = try await Self.joined(port, user: "watcher", status: "online")
            let started = ContinuousClock.now
            let clients = try await withThrowingTaskGroup(of: RawWebSocket.self) { group in
                for user in 0..<50 {
                    group.addTask { try await Self.joined(port, user: "u\(user)", status: "online").0 }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // At most one diff per batch window, however the joins fall.
            var joined = Set<String>()
            var diffs = 0
            while joined.count < 50 {
                let frame = try JSONValue(parsing: try await watcher.receiveText())
                #expect(frame[3] == "presence_diff")
                diffs += 1
                joined.formUnion(frame[4]?["joins"]?.objectValue?.keys ?? [])
            }
            let windows = (ContinuousClock.now - started) / PresenceOptions().batchWindow
            #expect(Double(diffs) <= windows + 2, "\(diffs) diffs for 50 joins in \(windows) batch windows")
            #expect(server.presence.list(topic: "room:lobby").objectValue?.count == 51)

            for client in clients { client.close() }
            var left = Set<String>()
            while left.count < 50 {
                let frame = try JSONValue(parsing: try await watcher.receiveText())
                left.formUnion(frame[4]?["leaves"]?.objectValue?.keys ?? [])
            }
            #expect(await AdminTestSupport.eventually { server.presence.list(topic: "room:lobby").objectValue?.keys.elementsEqual(["watcher"]) == true })
            watcher.close()
        }
    }
}

/// Each client's list of who is present, kept by phoenix.js's rules from the frames it reads.
private final class ClientViews: Sendable {
    let lists = Mutex<[String: ClientPresence.State]>([:])

    /// Reads `socket`'s frames into `user`'s list until the socket ends.
    func follow(_ socket: RawWebSocket, as user: String) async {
        while let text = try? await socket.receiveText(), let frame = try? JSONValue(parsing: text) {
            lists.withLock { lists in
                if frame[3] == "presence_state", let state = frame[4] {
                    lists[user] = ClientPresence.syncState([:], state)
                } else if frame[3] == "presence_diff", let diff = frame[4], let list = lists[user] {
                    lists[user] = ClientPresence.syncDiff(list, diff)
                }
            }
        }
    }
}
