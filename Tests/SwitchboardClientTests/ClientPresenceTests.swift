import NIOCore
import OrderedCollections
import Switchboard
import SwitchboardClient
import SwitchboardProtocol
import Synchronization
import Testing

/// ``ClientPresence``: phoenix.js's sync rules, and lists that match the
/// server through joins, leaves and a rejoin.
@Suite("Client presence")
struct ClientPresenceTests {
    static func meta(_ ref: String, _ fields: JSONObject = [:]) -> JSONObject {
        var meta = fields
        meta["phx_ref"] = .string(ref)
        return meta
    }

    @Test("syncState reports joins and leaves against what was known, as phoenix.js does")
    func syncState() {
        let joins = Mutex<[String]>([])
        let leaves = Mutex<[String]>([])
        let known: ClientPresence.State = ["u1": [Self.meta("1")], "u2": [Self.meta("2")]]
        let incoming: JSONValue = [
            "u1": ["metas": [.object(Self.meta("1")), .object(Self.meta("1b"))]],
            "u3": ["metas": [.object(Self.meta("3"))]],
        ]
        let state = ClientPresence.syncState(
            known, incoming,
            onJoin: { key, _, joined in joins.withLock { $0.append("\(key):\(joined.count)") } },
            onLeave: { key, remaining, left in leaves.withLock { $0.append("\(key):\(left.count):\(remaining?.count ?? -1)") } }
        )
        #expect(state == ["u1": [Self.meta("1"), Self.meta("1b")], "u3": [Self.meta("3")]])
        #expect(joins.withLock { $0 }.sorted() == ["u1:1", "u3:1"])
        #expect(leaves.withLock { $0 } == ["u2:1:0"])
    }

    @Test("syncDiff: an update (join with phx_ref_prev, leave of the old meta) keeps the key listed")
    func syncDiffUpdate() {
        let state: ClientPresence.State = ["u1": [Self.meta("1", ["status": "away"])]]
        let diff: JSONValue = [
            "joins": ["u1": ["metas": [.object(Self.meta("2", ["status": "busy", "phx_ref_prev": "1"]))]]],
            "leaves": ["u1": ["metas": [.object(Self.meta("1", ["status": "away"]))]]],
        ]
        let updated = ClientPresence.syncDiff(state, diff)
        #expect(updated == ["u1": [Self.meta("2", ["status": "busy", "phx_ref_prev": "1"])]])
        // A leave of an unknown key is ignored; the last meta leaving removes the key.
        let gone = ClientPresence.syncDiff(updated, ["joins": [:], "leaves": ["u9": ["metas": []], "u1": ["metas": [.object(Self.meta("2"))]]]])
        #expect(gone.isEmpty)
    }

    private func withServer(_ body: (Int) async throws -> Void) async throws {
        try await withInProcessServer(BuiltIn.endpoint(presence: true)) { server in try await body(try #require(server.localPort)) }
    }

    /// Waits until `presence` lists exactly `keys`.
    private func expectList(_ presence: ClientPresence, _ keys: Set<String>, _ comment: Comment) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if Set(await presence.state.keys) == keys { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Set(await presence.state.keys) == keys, comment)
    }

    @Test("every client's list matches the room through joins, a leave and a rejoin")
    func listsFollowTheRoom() async throws {
        try await withServer { port in
            var clients: [(PhoenixClient, ClientChannel, ClientPresence)] = []
            for user in ["1", "2", "3"] {
                let client = PhoenixClient(configuration: .init(host: "127.0.0.1", port: port, params: ["user_id": user]))
                try await client.connect()
                let channel = client.channel("room:presence")
                let presence = ClientPresence(channel: channel)
                _ = try await channel.join()
                clients.append((client, channel, presence))
            }
            for (_, _, presence) in clients {
                try await expectList(presence, ["1", "2", "3"], "after the joins")
            }

            await clients[1].1.leave()
            try await expectList(clients[0].2, ["1", "3"], "after 2 left")
            try await expectList(clients[2].2, ["1", "3"], "after 2 left")

            // 3 rejoins (a new join_ref): its new state replaces the old one, without a visible gap for 1.
            await clients[2].1.leave()
            _ = try await clients[2].1.join()
            try await expectList(clients[2].2, ["1", "3"], "3 after its rejoin")
            try await expectList(clients[0].2, ["1", "3"], "1 sees 3 back")
            let metas = await clients[0].2.state["3"] ?? []
            #expect(metas.count == 1, "one meta for 3: the old one left")
            for (client, _, _) in clients { await client.disconnect() }
        }
    }
}
