import Logging
import NIOConcurrencyHelpers
import NIOEmbedded
import Testing
@testable import Switchboard

/// A moved client's leave, as other nodes' deltas bring it: held while it
/// would take the key off the list, and listed meanwhile.
@Suite("Presence: held leaves from other nodes")
struct PresenceHeldLeaveTests {
    static let topic = "room:x"

    /// A tracker of node "a" fed control messages by hand, as if from nodes
    /// "z" and "x", both known (synced) and listing `entries`.
    final class Node: Sendable {
        let tracker: PresenceTracker
        private let handlers = NIOLockedValueBox<[String: @Sendable (ControlMessage) -> Void]>([:])
        private let seqs = NIOLockedValueBox<[String: Int]>([:])

        init(entries: [String: [PresenceEntry]]) {
            let loop = EmbeddedEventLoop()
            let logger = Logger(label: "presence-test", factory: { _ in SwiftLogNoOpLogHandler() })
            let pubsub = PubSub(adapter: LocalAdapter(nodeName: "a"), dispatchers: [LoopDispatcher(eventLoop: loop)], logger: logger, localFraming: .webSocket)
            tracker = PresenceTracker(pubsub: pubsub, eventLoop: loop, options: PresenceOptions(), logger: logger)
            tracker.listen { [handlers] event, handler in handlers.withLockedValue { $0[event] = handler } }
            for (node, entries) in entries {
                send(PresenceTracker.Event.snapshot, from: node, ["epoch": .string("e-\(node)"), "seq": 0, "entries": .array(entries.map(\.json))])
            }
        }

        func send(_ event: String, from node: String, _ payload: JSONValue) {
            let handler = handlers.withLockedValue { $0[event] }
            handler?(ControlMessage(event: event, payload: payload, originNode: node))
        }

        /// The next numbered delta of `node`.
        func delta(from node: String, _ changes: [JSONValue]) {
            let seq = seqs.withLockedValue { seqs -> Int in
                seqs[node, default: 0] += 1
                return seqs[node]!
            }
            send(PresenceTracker.Event.delta, from: node, ["epoch": .string("e-\(node)"), "seq": .int(seq), "changes": .array(changes)])
        }

        /// The refs listed for `key`.
        func refs(_ key: String) -> [String] {
            Array(tracker.list(topic: PresenceHeldLeaveTests.topic)[key]?.keys ?? [])
        }
    }

    static func entry(_ key: String, _ ref: String) -> PresenceEntry {
        PresenceEntry(topic: topic, key: key, ref: ref, meta: ["phx_ref": .string(ref)])
    }

    static func join(_ key: String, _ ref: String) -> JSONValue {
        ["op": "join", "entry": entry(key, ref).json]
    }

    static func heldLeave(_ key: String, _ ref: String) -> JSONValue {
        ["op": "leave", "topic": .string(topic), "key": .string(key), "ref": .string(ref), "held": true]
    }

    @Test("moved from z, the client's leave is held and listed until its join on x, then only the new meta is")
    func heldUntilBack() async {
        let node = Node(entries: ["z": [Self.entry("u5", "r2")], "x": []])
        node.delta(from: "z", [Self.heldLeave("u5", "r2")])
        #expect(node.refs("u5") == ["r2"], "listed while it moves")
        node.delta(from: "x", [Self.join("u5", "r3")])
        #expect(node.refs("u5") == ["r3"])
        await node.tracker.stop()
    }

    @Test("a held leave that comes after the client's join on another node is not held: the old meta does not linger")
    func lateHeldLeaveIsNotHeld() async {
        let node = Node(entries: ["z": [Self.entry("u5", "r2")], "x": []])
        node.delta(from: "x", [Self.join("u5", "r3")])
        node.delta(from: "z", [Self.heldLeave("u5", "r2")])
        #expect(node.refs("u5") == ["r3"], "the leave of r2 goes out at once: u5 stays listed by r3")
        await node.tracker.stop()
    }
}
