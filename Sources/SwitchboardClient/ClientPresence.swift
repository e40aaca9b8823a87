import NIOCore
import OrderedCollections
import SwitchboardProtocol

/// phoenix.js's `Presence` for a ``ClientChannel``: who is present on the
/// channel's topic, kept from the server's `presence_state` and
/// `presence_diff` with phoenix.js's rules. Diffs that come before the
/// state of the current join wait for it; a state after a rejoin is
/// reconciled with what was known (joins and leaves for the difference).
///
/// Make it before joining; the callbacks run on the client's event loop.
public final class ClientPresence: Sendable {
    /// Who is present: each key's metas (each with its `phx_ref`), in the
    /// order the server listed them.
    public typealias State = OrderedDictionary<String, [JSONObject]>
    /// A key joined or left: the key, its metas (on a join, those it had
    /// before; on a leave, those that remain: none when it is gone), and the
    /// metas that joined or left.
    public typealias Change = @Sendable (_ key: String, _ current: [JSONObject]?, _ changed: [JSONObject]) -> Void

    private struct Core {
        var state = State()
        var pendingDiffs: [JSONValue] = []
        /// The join whose `presence_state` `state` reflects.
        var joinRef: String?
        var onJoin: Change = { _, _, _ in }
        var onLeave: Change = { _, _, _ in }
        var onSync: @Sendable () -> Void = {}
    }

    public let channel: ClientChannel
    private let core: NIOLoopBoundBox<Core>

    public init(channel: ClientChannel) {
        self.channel = channel
        self.core = .makeBoxSendingValue(Core(), eventLoop: channel.client.eventLoop)
        channel.on("presence_state") { [self] message in received(state: message) }
        channel.on("presence_diff") { [self] message in received(diff: message) }
    }

    /// Who is present now.
    public var state: State {
        get async { (try? await channel.client.eventLoop.submit { self.core.value.state }.get()) ?? [:] }
    }

    public func onJoin(_ handler: @escaping Change) {
        channel.client.onLoop { self.core.value.onJoin = handler }
    }

    public func onLeave(_ handler: @escaping Change) {
        channel.client.onLoop { self.core.value.onLeave = handler }
    }

    /// After every state or diff applied.
    public func onSync(_ handler: @escaping @Sendable () -> Void) {
        channel.client.onLoop { self.core.value.onSync = handler }
    }

    private func received(state message: Message) {
        guard case .json(let payload) = message.payload else { return }
        var core = self.core.value
        core.joinRef = channel.core.joinRef
        core.state = Self.syncState(core.state, payload, onJoin: core.onJoin, onLeave: core.onLeave)
        for diff in core.pendingDiffs {
            core.state = Self.syncDiff(core.state, diff, onJoin: core.onJoin, onLeave: core.onLeave)
        }
        core.pendingDiffs = []
        self.core.value = core
        core.onSync()
    }

    private func received(diff message: Message) {
        guard case .json(let payload) = message.payload else { return }
        var core = self.core.value
        // Not yet the state of the current join: keep the diff for it.
        guard let joinRef = core.joinRef, joinRef == channel.core.joinRef else {
            core.pendingDiffs.append(payload)
            self.core.value = core
            return
        }
        core.state = Self.syncDiff(core.state, payload, onJoin: core.onJoin, onLeave: core.onLeave)
        self.core.value = core
        core.onSync()
    }

    // MARK: - phoenix.js's syncState and syncDiff

    /// `state` brought to `newState` (a `presence_state` payload) through the
    /// joins and leaves between them.
    public static func syncState(_ state: State, _ newState: JSONValue, onJoin: Change = { _, _, _ in }, onLeave: Change = { _, _, _ in }) -> State {
        let incoming = Self.presences(newState)
        var joins = State()
        var leaves = State()
        for (key, metas) in state where incoming[key] == nil {
            leaves[key] = metas
        }
        for (key, newMetas) in incoming {
            guard let current = state[key] else {
                joins[key] = newMetas
                continue
            }
            let newRefs = Set(newMetas.map(Self.ref))
            let currentRefs = Set(current.map(Self.ref))
            let joined = newMetas.filter { !currentRefs.contains(Self.ref($0)) }
            let left = current.filter { !newRefs.contains(Self.ref($0)) }
            if !joined.isEmpty { joins[key] = joined }
            if !left.isEmpty { leaves[key] = left }
        }
        return apply(state, joins: joins, leaves: leaves, onJoin: onJoin, onLeave: onLeave)
    }

    /// `state` with a `presence_diff` payload applied.
    public static func syncDiff(_ state: State, _ diff: JSONValue, onJoin: Change = { _, _, _ in }, onLeave: Change = { _, _, _ in }) -> State {
        apply(state, joins: presences(diff["joins"] ?? [:]), leaves: presences(diff["leaves"] ?? [:]), onJoin: onJoin, onLeave: onLeave)
    }

    private static func apply(_ state: State, joins: State, leaves: State, onJoin: Change, onLeave: Change) -> State {
        var state = state
        for (key, joined) in joins {
            let current = state[key]
            let joinedRefs = Set(joined.map(Self.ref))
            // What was there and did not join again goes first, as in phoenix.js.
            state[key] = (current ?? []).filter { !joinedRefs.contains(Self.ref($0)) } + joined
            onJoin(key, current, joined)
        }
        for (key, left) in leaves {
            guard let current = state[key] else { continue }
            let leftRefs = Set(left.map(Self.ref))
            let remaining = current.filter { !leftRefs.contains(Self.ref($0)) }
            onLeave(key, remaining, left)
            state[key] = remaining.isEmpty ? nil : remaining
        }
        return state
    }

    /// `{key: {"metas": […]}}` as keys and metas; anything else is skipped.
    private static func presences(_ json: JSONValue) -> State {
        var state = State()
        for (key, presence) in json.objectValue ?? [:] {
            state[key] = presence["metas"]?.arrayValue?.compactMap(\.objectValue) ?? []
        }
        return state
    }

    private static func ref(_ meta: JSONObject) -> String {
        meta["phx_ref"]?.stringValue ?? ""
    }
}
