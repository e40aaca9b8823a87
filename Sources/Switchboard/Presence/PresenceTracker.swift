import Logging
import NIOCore
import OrderedCollections
import Synchronization

/// Phoenix's Presence for one node (the job of `Phoenix.Tracker`): who is on
/// which topic, across the cluster, through the PubSub adapter only.
///
/// Each node owns the presences its channel instances track and tells every
/// other node of each change (`presence_delta`, numbered: `epoch` is drawn
/// at start, `seq` counts the node's deltas). A node that sees a gap, a new
/// epoch, or a heartbeat ahead of what it has asks the owner for its whole
/// state (`presence_sync`, answered by a `presence_snapshot`): a lost
/// message costs a resync, never a ghost or a missing member. A node whose
/// heartbeats stop for ``PresenceOptions/downAfter`` is down and its
/// presences leave; a node that stops says so, and they leave at once. A
/// node that never tracked anything sends nothing at all.
///
/// A node that starts says hello (a `presence_sync` to all, with its
/// epoch): every node with presences answers with a snapshot, and a node
/// that had the same name before forgets that life's presences at once.
/// Joins of presence channels wait for those answers (``warmedUp()``), so
/// a client moved to a new node never gets a `presence_state` missing
/// members who are there.
///
/// Changes, this node's and the others', are gathered over
/// ``PresenceOptions/batchWindow`` and reach this node's subscribers of each
/// topic as one `presence_diff`. Every node keeps every node's presences
/// (they are small next to the sockets that hold them), so a join anywhere
/// gets its `presence_state` at once, without asking another node.
package final class PresenceTracker: Sendable {
    enum Event {
        static let delta = "presence_delta"
        static let heartbeat = "presence_heartbeat"
        static let sync = "presence_sync"
        static let snapshot = "presence_snapshot"
        static let all = [delta, heartbeat, sync, snapshot]
    }

    private struct Peer {
        var epoch: String
        /// The last delta applied; 0 until a snapshot came.
        var seq: UInt64 = 0
        var synced = false
        var replica = PresenceReplica()
        var lastHeard: NIODeadline
        var syncRequestedAt: NIODeadline?
    }

    private struct State {
        var seq: UInt64 = 0
        var nextRef: UInt64 = 0
        var own = PresenceReplica()
        /// What each of this node's channel instances tracks: its topic and, by key, the ref.
        var byInstance: [SubscriberID: (topic: String, refs: [String: String])] = [:]
        var peers: [String: Peer] = [:]
        /// Changes for the next delta.
        var outgoing: [JSONValue] = []
        /// By topic: what this node's subscribers have not been told yet.
        var diffs: [String: PresenceDiff] = [:]
        /// Leaves of clients the server closed to move them (shed, drain):
        /// told together with their key's next join on the topic, or alone
        /// once ``PresenceOptions/rejoinGrace`` has passed. Listed meanwhile.
        var heldLeaves: [String: [String: [(ref: String, meta: JSONObject, until: NIODeadline)]]] = [:]
        /// This node's channel instances whose socket the server closed to move it.
        var moving: Set<SubscriberID> = []
        /// By topic: the last `presence_state` encoded, shared by the joins
        /// until the topic's next diff goes out (``statePayload(topic:joiner:)``).
        var sharedStates: [String: SharedState] = [:]
        var flushScheduled = false
        /// When this node said hello; `nil` before ``start()``.
        var helloAt: NIODeadline?
        var stopped = false

        mutating func diffJoin(topic: String, key: String, ref: String, meta: JSONObject) {
            diffs[topic, default: PresenceDiff()].join(key: key, ref: ref, meta: meta)
            // The client is back: its leave goes in the same diff as its join.
            if let held = heldLeaves[topic]?.removeValue(forKey: key) {
                for leave in held { diffs[topic, default: PresenceDiff()].leave(key: key, ref: leave.ref, meta: leave.meta) }
            }
        }

        /// Whether `key` is on `topic` with a meta of this node or of a peer
        /// other than `skipped` (one whose replica the caller holds apart).
        func lists(topic: String, key: String, skipping skipped: String? = nil) -> Bool {
            own.lists(topic: topic, key: key) || peers.contains { $0.key != skipped && $0.value.replica.lists(topic: topic, key: key) }
        }

        mutating func diffLeave(topic: String, key: String, ref: String, meta: JSONObject, heldUntil: NIODeadline?) {
            if let heldUntil {
                heldLeaves[topic, default: [:]][key, default: []].append((ref, meta, heldUntil))
            } else {
                diffs[topic, default: PresenceDiff()].leave(key: key, ref: ref, meta: meta)
            }
        }

        /// Moves the held leaves whose grace has passed into the diffs.
        mutating func releaseHeldLeaves(at now: NIODeadline) {
            for (topic, keys) in heldLeaves {
                for (key, held) in keys {
                    let (due, kept) = (held.filter { $0.until <= now }, held.filter { $0.until > now })
                    for leave in due { diffs[topic, default: PresenceDiff()].leave(key: key, ref: leave.ref, meta: leave.meta) }
                    heldLeaves[topic]?[key] = kept.isEmpty ? nil : kept
                }
                if heldLeaves[topic]?.isEmpty == true { heldLeaves.removeValue(forKey: topic) }
            }
        }
    }

    /// A topic's `presence_state` payload as encoded once, and the keys it lists.
    private struct SharedState {
        var bytes: ByteBuffer
        var keys: Set<String>
    }

    let nodeName: String
    let options: PresenceOptions
    /// Drawn at start: a restarted node's presences are new ones.
    let epoch: String
    private let pubsub: PubSub
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = Mutex(State())
    private let outbox: AsyncStream<(event: String, payload: JSONValue, node: String?)>.Continuation
    private let sender: Task<Void, Never>
    /// The heartbeat, and the check for peers gone silent (four times as
    /// often, so a dead node's presences leave soon after ``PresenceOptions/downAfter``).
    private let timers = Mutex<[RepeatedTask]>([])

    package init(pubsub: PubSub, eventLoop: any EventLoop, options: PresenceOptions, logger: Logger) {
        self.pubsub = pubsub
        self.nodeName = pubsub.nodeName
        self.eventLoop = eventLoop
        self.options = options
        self.logger = logger
        self.epoch = String(UInt64.random(in: .min ... .max), radix: 16)
        let (stream, continuation) = AsyncStream.makeStream(of: (event: String, payload: JSONValue, node: String?).self)
        self.outbox = continuation
        // One sender, so that deltas leave in the order they were numbered.
        self.sender = Task {
            for await message in stream {
                try? await pubsub.sendControl(event: message.event, payload: message.payload, to: message.node)
            }
        }
    }

    // MARK: - Lifecycle

    /// Registers, through `handleControl`, a handler for each presence
    /// event: before the node hears from the others, so that none of theirs
    /// is taken for an unknown event.
    func listen(handleControl: (String, @escaping @Sendable (ControlMessage) -> Void) -> Void) {
        for event in Event.all {
            handleControl(event) { [self] message in received(message) }
        }
    }

    /// Says hello to the other nodes and starts the heartbeat: once the node
    /// hears from them, so that their answers are not missed.
    func start() {
        state.withLock { $0.helloAt = .now() }
        outbox.yield((Event.sync, ["hello": .string(epoch)], nil))
        let interval = TimeAmount(options.heartbeatInterval)
        let sweep = TimeAmount(options.heartbeatInterval / 4)
        timers.withLock {
            $0 = [
                eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { [self] _ in beat() },
                eventLoop.scheduleRepeatedTask(initialDelay: sweep, delay: sweep) { [self] _ in countDownSilentPeers() },
            ]
        }
    }

    /// Tells the other nodes that this one's presences are gone, and sends
    /// what is left to send (at most `timeout`).
    func stop(timeout: Duration = .seconds(1)) async {
        timers.withLock { $0.forEach { $0.cancel() } }
        let seq = state.withLock { state -> UInt64? in
            guard !state.stopped else { return nil }
            state.stopped = true
            return state.seq
        }
        if let seq, seq > 0 {
            outbox.yield((Event.heartbeat, ["epoch": .string(epoch), "seq": .int(Int(seq)), "stopping": true], nil))
        }
        outbox.finish()
        let sender = self.sender
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await sender.value }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - Tracking (this node's channel instances)

    /// Tracks `key` for `instance` on `topic`; returns its `phx_ref`.
    @discardableResult
    func track(instance: SubscriberID, topic: String, key: String, meta: JSONObject) throws(PresenceError) -> String {
        try check(key: key, meta: meta)
        let ref = try state.withLock { state throws(PresenceError) -> String in
            if state.byInstance[instance]?.refs[key] != nil { throw .alreadyTracked(key: key) }
            let ref = makeRef(&state)
            var meta = meta
            meta["phx_ref"] = .string(ref)
            state.byInstance[instance, default: (topic, [:])].refs[key] = ref
            join(PresenceEntry(topic: topic, key: key, ref: ref, meta: meta), into: &state)
            return ref
        }
        scheduleFlush()
        return ref
    }

    /// Replaces the meta of `key`: a join of the new meta (with
    /// `phx_ref_prev`) and a leave of the old one, in one diff.
    @discardableResult
    func update(instance: SubscriberID, key: String, meta: JSONObject) throws(PresenceError) -> String {
        try check(key: key, meta: meta)
        let ref = try state.withLock { state throws(PresenceError) -> String in
            guard let tracked = state.byInstance[instance], let old = tracked.refs[key] else { throw .notTracked(key: key) }
            let ref = makeRef(&state)
            var meta = meta
            meta["phx_ref"] = .string(ref)
            meta["phx_ref_prev"] = .string(old)
            state.byInstance[instance]?.refs[key] = ref
            join(PresenceEntry(topic: tracked.topic, key: key, ref: ref, meta: meta), into: &state)
            leave(topic: tracked.topic, key: key, ref: old, from: &state)
            return ref
        }
        scheduleFlush()
        return ref
    }

    /// Stops tracking `key` for `instance`; false when it was not tracked.
    @discardableResult
    func untrack(instance: SubscriberID, key: String) -> Bool {
        let untracked = state.withLock { state -> Bool in
            guard let tracked = state.byInstance[instance], let ref = tracked.refs[key] else { return false }
            state.byInstance[instance]?.refs.removeValue(forKey: key)
            if state.byInstance[instance]?.refs.isEmpty == true { state.byInstance.removeValue(forKey: instance) }
            leave(topic: tracked.topic, key: key, ref: ref, from: &state)
            return true
        }
        if untracked { scheduleFlush() }
        return untracked
    }

    /// Ends every presence of `instance` (its channel ended).
    func untrackAll(instance: SubscriberID) {
        let held = state.withLock { state -> Bool? in
            let moving = state.moving.remove(instance) != nil
            guard let tracked = state.byInstance.removeValue(forKey: instance) else { return nil }
            for (key, ref) in tracked.refs {
                leave(topic: tracked.topic, key: key, ref: ref, held: moving, from: &state)
            }
            return moving
        }
        guard let held else { return }
        scheduleFlush()
        if held { scheduleRelease() }
    }

    /// The server closed the socket of `instance` to move it elsewhere (shed,
    /// drain): when its presences leave, each is told with its key's next
    /// join on the topic, if one comes within ``PresenceOptions/rejoinGrace``.
    func moving(instance: SubscriberID) {
        state.withLock { state in
            if state.byInstance[instance] != nil { state.moving.insert(instance) }
        }
    }

    private func check(key: String, meta: JSONObject) throws(PresenceError) {
        guard !key.isEmpty else { throw .emptyKey }
        var encoded = ByteBuffer()
        JSONValue.object(meta).encode(into: &encoded)
        let bytes = encoded.readableBytes
        guard bytes <= options.maxMetaBytes else { throw .metaTooLarge(bytes: bytes, limit: options.maxMetaBytes) }
    }

    /// Unique in the cluster: this node's epoch and a count.
    private func makeRef(_ state: inout State) -> String {
        state.nextRef += 1
        return epoch + "." + String(state.nextRef, radix: 36)
    }

    private func join(_ entry: PresenceEntry, into state: inout State) {
        state.own.insert(entry)
        state.outgoing.append(["op": "join", "entry": entry.json])
        state.diffJoin(topic: entry.topic, key: entry.key, ref: entry.ref, meta: entry.meta)
    }

    private func leave(topic: String, key: String, ref: String, held: Bool = false, from state: inout State) {
        guard let meta = state.own.remove(topic: topic, key: key, ref: ref) else { return }
        var change: JSONObject = ["op": "leave", "topic": .string(topic), "key": .string(key), "ref": .string(ref)]
        if held { change["held"] = true }
        state.outgoing.append(.object(change))
        // Held only while it would take the key off the list: with another
        // meta still there (another device, or the client already back
        // elsewhere), nobody sees the key vanish.
        let holds = held && !state.lists(topic: topic, key: key)
        state.diffLeave(topic: topic, key: key, ref: ref, meta: meta, heldUntil: holds ? .now() + TimeAmount(options.rejoinGrace) : nil)
    }

    /// A flush once the grace of leaves held now has passed.
    private func scheduleRelease() {
        guard !state.withLock({ $0.stopped }) else { return }
        eventLoop.scheduleTask(in: TimeAmount(options.rejoinGrace) + .milliseconds(1)) { [self] in flush() }
    }

    // MARK: - Warming up

    /// Whether the other nodes' presences are here: the answers to this
    /// node's hello had ``helloWait`` to come and every node heard of since
    /// has sent its snapshot, or twice the heartbeat interval has passed.
    var isWarm: Bool {
        let now = NIODeadline.now()
        return state.withLock { state in
            // Not started (a channel test's tracker): no other node to wait for.
            guard let hello = state.helloAt else { return true }
            let elapsed = now - hello
            if elapsed >= TimeAmount(options.heartbeatInterval) * 2 { return true }
            return elapsed >= Self.helloWait && state.peers.values.allSatisfy(\.synced)
        }
    }

    /// How long the hello's answers are waited for: a round trip through the adapter.
    static let helloWait = TimeAmount.milliseconds(200)

    /// Returns once ``isWarm`` (at once, but in a node's first moments).
    func warmedUp() async {
        while !isWarm {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: - Reading

    /// Every presence on `topic`, on every node, as `presence_state` has it:
    /// `{key: {"metas": […]}}`, each key's metas node by node. A client the
    /// server moved is listed until it is back or its grace has passed,
    /// as its leave is held from the clients already there: a client that
    /// joins meanwhile sees it as they do.
    func list(topic: String) -> OrderedDictionary<String, PresenceReplica.Metas> {
        state.withLock { merged(topic: topic, in: $0) }
    }

    private func merged(topic: String, in state: State) -> OrderedDictionary<String, PresenceReplica.Metas> {
        var replicas = [(nodeName, state.own)]
        replicas += state.peers.map { ($0.key, $0.value.replica) }
        var keys = OrderedDictionary<String, PresenceReplica.Metas>()
        for (_, replica) in replicas.sorted(by: { $0.0 < $1.0 }) {
            for (key, metas) in replica.topics[topic] ?? [:] {
                keys[key, default: [:]].merge(metas) { first, _ in first }
            }
        }
        for (key, held) in state.heldLeaves[topic] ?? [:] {
            for leave in held where keys[key]?[leave.ref] == nil {
                keys[key, default: [:]][leave.ref] = leave.meta
            }
        }
        return keys
    }

    /// The `presence_state` payload for the client of `joiner` (subscribed
    /// to `topic` already): the topic's list, encoded once and shared by
    /// the joins until the topic's next diff goes out, plus the joiner's own
    /// presences. A join into a large room then costs a copy, not a walk
    /// and an encoding of every member.
    ///
    /// The shared part may miss the changes of the last batch window; they
    /// are in the diff not yet sent, which the joiner gets, as phoenix.js
    /// expects (it keeps a meta once, and ignores the leave of a meta it
    /// does not have). A flush drops the shared payload of every topic in
    /// its diffs. With ``PresenceOptions/fetch``, nothing is shared.
    func statePayload(topic: String, joiner: SubscriberID) -> ByteBuffer {
        if let fetch = options.fetch {
            var bytes = ByteBuffer()
            PresenceDiff.json(list(topic: topic), topic: topic, fetch: fetch).encode(into: &bytes)
            return bytes
        }
        return state.withLock { state in
            let own = state.byInstance[joiner].flatMap { $0.topic == topic ? $0.refs : nil } ?? [:]
            guard let shared = state.sharedStates[topic], own.keys.allSatisfy({ !shared.keys.contains($0) }) else {
                // A new list; kept for the next joins, who add their own presences to it.
                let keys = merged(topic: topic, in: state)
                var bytes = ByteBuffer()
                PresenceDiff.json(keys, topic: topic, fetch: nil).encode(into: &bytes)
                if !keys.isEmpty { state.sharedStates[topic] = SharedState(bytes: bytes, keys: Set(keys.keys)) }
                return bytes
            }
            guard !own.isEmpty else { return shared.bytes }
            var joinerOwn = OrderedDictionary<String, PresenceReplica.Metas>()
            for (key, ref) in own {
                if let meta = state.own.topics[topic]?[key]?[ref] { joinerOwn[key, default: [:]][ref] = meta }
            }
            var addition = ByteBuffer()
            PresenceDiff.json(joinerOwn, topic: topic, fetch: nil).encode(into: &addition)
            // `{shared…}` and `{own…}` make `{shared…,own…}`.
            var bytes = ByteBuffer()
            bytes.reserveCapacity(shared.bytes.readableBytes + addition.readableBytes)
            bytes.writeImmutableBuffer(shared.bytes.getSlice(at: shared.bytes.readerIndex, length: shared.bytes.readableBytes - 1)!)
            if shared.bytes.readableBytes > 2 && addition.readableBytes > 2 { bytes.writeInteger(UInt8(ascii: ",")) }
            addition.moveReaderIndex(forwardBy: 1)
            bytes.writeBuffer(&addition)
            return bytes
        }
    }

    // MARK: - Flushing

    private func scheduleFlush() {
        let schedule = state.withLock { state -> Bool in
            // Stopped: the loops may be gone (a channel ending late in a shutdown).
            guard !state.flushScheduled, !state.stopped else { return false }
            state.flushScheduled = true
            return true
        }
        if schedule {
            eventLoop.scheduleTask(in: TimeAmount(options.batchWindow)) { [self] in flush() }
        }
    }

    /// Sends the gathered changes to the other nodes, and each topic's diff
    /// to this node's subscribers.
    private func flush() {
        let now = NIODeadline.now()
        let (delta, diffs) = state.withLock { state -> (JSONValue?, [String: PresenceDiff]) in
            state.flushScheduled = false
            state.releaseHeldLeaves(at: now)
            let diffs = state.diffs
            state.diffs = [:]
            for topic in diffs.keys { state.sharedStates.removeValue(forKey: topic) }
            guard !state.outgoing.isEmpty, !state.stopped else { return (nil, diffs) }
            state.seq += 1
            defer { state.outgoing = [] }
            return (["epoch": .string(epoch), "seq": .int(Int(state.seq)), "changes": .array(state.outgoing)], diffs)
        }
        if let delta { outbox.yield((Event.delta, delta, nil)) }
        for (topic, diff) in diffs where !diff.isEmpty {
            try? pubsub.localBroadcast(topic: topic, event: "presence_diff", payload: .json(diff.json(topic: topic, fetch: options.fetch)))
        }
    }

    // MARK: - Other nodes

    private func received(_ message: ControlMessage) {
        let node = message.originNode
        guard node != nodeName else { return }
        let payload = message.payload
        switch message.event {
        case Event.delta:
            guard let epoch = payload["epoch"]?.stringValue, let seq = payload["seq"]?.intValue, seq > 0,
                  let changes = payload["changes"]?.arrayValue
            else { return malformed(message) }
            receivedDelta(from: node, epoch: epoch, seq: UInt64(seq), changes: changes)
        case Event.heartbeat:
            guard let epoch = payload["epoch"]?.stringValue, let seq = payload["seq"]?.intValue, seq >= 0 else { return malformed(message) }
            receivedHeartbeat(from: node, epoch: epoch, seq: UInt64(seq), stopping: payload["stopping"]?.boolValue ?? false)
        case Event.sync:
            let hello = payload["hello"]?.stringValue
            let snapshot = state.withLock { state -> JSONValue? in
                if let hello, state.peers[node]?.epoch != hello {
                    // A node starting (again: its last life's presences are
                    // gone). It has nothing yet: known and synced at seq 0.
                    var peer = replacePeerIfNew(node, epoch: hello, now: .now(), in: &state)
                    peer.synced = true
                    state.peers[node] = peer
                }
                // A hello from a node is answered only by nodes with something to tell.
                guard hello == nil || state.seq > 0 else { return nil }
                return ["epoch": .string(epoch), "seq": .int(Int(state.seq)), "entries": .array(state.own.entries.map(\.json))]
            }
            if hello != nil { scheduleFlush() }
            if let snapshot { outbox.yield((Event.snapshot, snapshot, node)) }
        case Event.snapshot:
            guard let epoch = payload["epoch"]?.stringValue, let seq = payload["seq"]?.intValue, seq >= 0,
                  let entries = payload["entries"]?.arrayValue
            else { return malformed(message) }
            let parsed = entries.compactMap(PresenceEntry.init(json:))
            guard parsed.count == entries.count else { return malformed(message) }
            receivedSnapshot(from: node, epoch: epoch, seq: UInt64(seq), entries: parsed)
        default:
            break
        }
    }

    private func malformed(_ message: ControlMessage) {
        logger.warning("ignoring a malformed presence message", metadata: ["event": "\(message.event)", "from": "\(message.originNode)"])
    }

    private func receivedDelta(from node: String, epoch: String, seq: UInt64, changes: [JSONValue]) {
        let now = NIODeadline.now()
        var heldAny = false
        let (changed, requestSync) = state.withLock { state -> (Bool, Bool) in
            var peer = replacePeerIfNew(node, epoch: epoch, now: now, in: &state)
            peer.lastHeard = now
            defer { state.peers[node] = peer }
            guard peer.synced, seq == peer.seq + 1 else {
                // A gap (or nothing known yet): the snapshot brings this change too.
                return (false, shouldRequestSync(&peer, now: now))
            }
            peer.seq = seq
            var changed = false
            for change in changes {
                switch change["op"]?.stringValue {
                case "join":
                    guard let entry = change["entry"].flatMap(PresenceEntry.init(json:)) else { continue }
                    peer.replica.insert(entry)
                    state.diffJoin(topic: entry.topic, key: entry.key, ref: entry.ref, meta: entry.meta)
                    changed = true
                case "leave":
                    guard let topic = change["topic"]?.stringValue, let key = change["key"]?.stringValue,
                          let ref = change["ref"]?.stringValue,
                          let meta = peer.replica.remove(topic: topic, key: key, ref: ref)
                    else { continue }
                    // As for this node's own leaves: held only when the key would
                    // vanish (its new join may have come first, from another node).
                    let held = change["held"]?.boolValue == true && !peer.replica.lists(topic: topic, key: key)
                        && !state.lists(topic: topic, key: key, skipping: node)
                    state.diffLeave(topic: topic, key: key, ref: ref, meta: meta, heldUntil: held ? now + TimeAmount(options.rejoinGrace) : nil)
                    heldAny = heldAny || held
                    changed = true
                default:
                    continue
                }
            }
            return (changed, false)
        }
        if changed { scheduleFlush() }
        if heldAny { scheduleRelease() }
        if requestSync { outbox.yield((Event.sync, [:], node)) }
    }

    private func receivedHeartbeat(from node: String, epoch: String, seq: UInt64, stopping: Bool) {
        let now = NIODeadline.now()
        if stopping {
            if removePeer(node, ifEpoch: epoch) {
                logger.info("presence: node stopped; its presences left", metadata: ["peer": "\(node)"])
            }
            return
        }
        let (changed, requestSync) = state.withLock { state -> (Bool, Bool) in
            let known = state.peers[node]
            var peer = replacePeerIfNew(node, epoch: epoch, now: now, in: &state)
            peer.lastHeard = now
            defer { state.peers[node] = peer }
            let behind = !peer.synced || seq > peer.seq
            return (known != nil && known?.epoch != epoch, behind && shouldRequestSync(&peer, now: now))
        }
        if changed { scheduleFlush() }
        if requestSync { outbox.yield((Event.sync, [:], node)) }
    }

    private func receivedSnapshot(from node: String, epoch: String, seq: UInt64, entries: [PresenceEntry]) {
        let now = NIODeadline.now()
        state.withLock { state in
            var peer = replacePeerIfNew(node, epoch: epoch, now: now, in: &state)
            // Older than what is applied already (deltas went on meanwhile): keep that.
            guard !peer.synced || seq >= peer.seq else { return }
            let replica = PresenceReplica(entries)
            addDiff(from: peer.replica, to: replica, into: &state)
            peer.replica = replica
            peer.seq = seq
            peer.synced = true
            peer.syncRequestedAt = nil
            peer.lastHeard = now
            state.peers[node] = peer
        }
        scheduleFlush()
    }

    /// The peer `node` as of `epoch`: a peer first heard of, or one that
    /// restarted (its old presences leave), starts empty and unsynced.
    private func replacePeerIfNew(_ node: String, epoch: String, now: NIODeadline, in state: inout State) -> Peer {
        if let peer = state.peers[node], peer.epoch == epoch { return peer }
        if let old = state.peers[node] {
            addDiff(from: old.replica, to: PresenceReplica(), into: &state)
        }
        return Peer(epoch: epoch, lastHeard: now)
    }

    /// Whether to ask `peer` for a snapshot now: not while one asked for
    /// within the last heartbeat interval may still come.
    private func shouldRequestSync(_ peer: inout Peer, now: NIODeadline) -> Bool {
        if let asked = peer.syncRequestedAt, now - asked < TimeAmount(options.heartbeatInterval) { return false }
        peer.syncRequestedAt = now
        return true
    }

    /// Removes the peer `node` (of `epoch`, when given) and makes its presences leave.
    @discardableResult
    private func removePeer(_ node: String, ifEpoch epoch: String? = nil) -> Bool {
        let removed = state.withLock { state -> Bool in
            guard let peer = state.peers[node], epoch == nil || peer.epoch == epoch else { return false }
            state.peers.removeValue(forKey: node)
            addDiff(from: peer.replica, to: PresenceReplica(), into: &state)
            return true
        }
        if removed { scheduleFlush() }
        return removed
    }

    /// The joins and leaves that turn `old` into `new`, added to the pending diffs.
    private func addDiff(from old: PresenceReplica, to new: PresenceReplica, into state: inout State) {
        for (topic, keys) in old.topics {
            for (key, metas) in keys {
                for (ref, meta) in metas where new.topics[topic]?[key]?[ref] == nil {
                    state.diffLeave(topic: topic, key: key, ref: ref, meta: meta, heldUntil: nil)
                }
            }
        }
        for (topic, keys) in new.topics {
            for (key, metas) in keys {
                for (ref, meta) in metas where old.topics[topic]?[key]?[ref] == nil {
                    state.diffJoin(topic: topic, key: key, ref: ref, meta: meta)
                }
            }
        }
    }

    /// Every heartbeat interval: tells the others how far this node is.
    private func beat() {
        let seq = state.withLock { $0.seq }
        // A node that never tracked anything has nothing for the others to keep or expire.
        if seq > 0 {
            outbox.yield((Event.heartbeat, ["epoch": .string(epoch), "seq": .int(Int(seq))], nil))
        }
    }

    /// Counts down the peers not heard from for ``PresenceOptions/downAfter``.
    private func countDownSilentPeers() {
        let now = NIODeadline.now()
        let limit = TimeAmount(options.downAfter)
        let down = state.withLock { state in
            state.peers.filter { now - $0.value.lastHeard > limit }.map { ($0.key, !$0.value.replica.topics.isEmpty) }
        }
        // A node that said hello and never tracked anything is forgotten without a word.
        for (node, hadPresences) in down where removePeer(node) && hadPresences {
            logger.notice("presence: node not heard from; its presences left", metadata: ["peer": "\(node)", "after": "\(options.downAfter)"])
        }
    }
}
