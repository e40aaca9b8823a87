import Synchronization
import Switchboard

/// One `bench watch --presence` client's presence list, kept by phoenix.js's
/// rules: a `presence_state` replaces it, a diff's joins add metas and its
/// leaves remove metas by `phx_ref`, and a key is listed while it has a
/// meta. Counts, by member, each time its key vanished from the list (a
/// visible leave: by a diff, or missing from the state of a rejoin).
final class WatchedPresence: Sendable {
    private struct State {
        /// By member: the `phx_ref`s of its metas.
        var metas: [Int: Set<String>] = [:]
        var synced = false
        var vanished: [Int: Int] = [:]
    }

    private let current = Mutex(State())

    func state(_ payload: Payload) {
        guard case .json(let state) = payload, let presences = state.objectValue else { return }
        var metas: [Int: Set<String>] = [:]
        for (key, presence) in presences {
            guard let member = BenchKey.index(key) else { continue }
            metas[member] = Self.refs(presence)
        }
        self.current.withLock { state in
            if state.synced {
                for member in state.metas.keys where metas[member] == nil { state.vanished[member, default: 0] += 1 }
            }
            state.metas = metas
            state.synced = true
        }
    }

    func diff(_ payload: Payload) {
        guard case .json(let diff) = payload else { return }
        self.current.withLock { state in
            guard state.synced else { return }
            for (key, presence) in diff["joins"]?.objectValue ?? [:] {
                guard let member = BenchKey.index(key) else { continue }
                state.metas[member, default: []].formUnion(Self.refs(presence))
            }
            for (key, presence) in diff["leaves"]?.objectValue ?? [:] {
                guard let member = BenchKey.index(key), var refs = state.metas[member] else { continue }
                refs.subtract(Self.refs(presence))
                if refs.isEmpty {
                    state.metas.removeValue(forKey: member)
                    state.vanished[member, default: 0] += 1
                } else {
                    state.metas[member] = refs
                }
            }
        }
    }

    /// The members listed.
    var members: Set<Int> {
        self.current.withLock { Set($0.metas.keys) }
    }

    /// How often each member vanished from the list.
    var vanished: [Int: Int] {
        self.current.withLock { $0.vanished }
    }

    private static func refs(_ presence: JSONValue) -> Set<String> {
        Set((presence["metas"]?.arrayValue ?? []).compactMap { $0["phx_ref"]?.stringValue })
    }
}

/// `bench watch --presence`'s verdict: every client's list against its
/// topic's members, and each member's visible leaves against its moves.
struct WatchPresenceCheck {
    let views: [WatchedPresence]
    let clients: [BenchConnection]
    /// By topic number: the members on it.
    let expected: [Set<Int>]
    let topics: Int

    init(views: [WatchedPresence], clients: [BenchConnection], topics: Int) {
        self.views = views
        self.clients = clients
        self.topics = topics
        var expected = Array(repeating: Set<Int>(), count: topics)
        for client in clients { expected[client.index % topics].insert(client.index) }
        self.expected = expected
    }

    /// Every client's list is its topic's members, no more, no less (true without --presence).
    var allExact: Bool {
        self.views.isEmpty || self.clients.allSatisfy { self.views[$0.index].members == self.expected[$0.index % self.topics] }
    }

    func section() async -> ReportSection {
        var moves: [Int: Int] = [:]
        for client in self.clients { moves[client.index] = await client.client.statistics.reconnects }
        var exact = 0
        var ghosts = 0
        var missing = 0
        var vanished = 0
        var beyondMoves = 0
        var worst = 0
        for client in self.clients {
            let view = self.views[client.index]
            let members = view.members
            let expected = self.expected[client.index % self.topics]
            if members == expected { exact += 1 }
            ghosts += members.subtracting(expected).count
            missing += expected.subtracting(members).count
            for (member, count) in view.vanished {
                vanished += count
                worst = max(worst, count)
                beyondMoves += max(0, count - (moves[member] ?? 0))
            }
        }
        var section = ReportSection()
        section["lists_exact"] = .int(exact)
        section["lists_wrong"] = .int(self.clients.count - exact)
        section["ghosts_listed"] = .int(ghosts)
        section["members_missing"] = .int(missing)
        section["members_moved"] = .int(moves.values.count { $0 > 0 })
        section["visible_leaves"] = .int(vanished)
        section["visible_leaves_beyond_moves"] = .int(beyondMoves)
        section["most_leaves_of_one_member_in_one_list"] = .int(worst)
        return section
    }
}
