import Logging
import NIOConcurrencyHelpers
import Testing
@testable import Switchboard

@Suite("Adapter subscriptions")
struct TopicActivationOrderTests {
    /// Records what the adapter is asked, in order; subscribing is slow.
    final class RecordingAdapter: PubSubAdapter {
        let calls = NIOLockedValueBox<[String]>([])
        var nodeName: String { "recorder" }
        var status: AdapterStatus { AdapterStatus(name: "recording", state: "connected") }
        func start(deliver: @escaping @Sendable (PubSubMessage) -> Void, control: @escaping @Sendable (ControlMessage) -> Void) async throws {}
        func sendControl(_ message: ControlMessage, to node: String?) async throws {}
        func shutdown() async {}
        func broadcast(_ message: PubSubMessage) async throws {}
        func directBroadcast(to node: String, _ message: PubSubMessage) async throws {}
        func topicActivated(_ topic: String) async throws {
            try await Task.sleep(for: .milliseconds(50))
            calls.withLockedValue { $0.append("subscribe \(topic)") }
        }
        func topicDeactivated(_ topic: String) async {
            calls.withLockedValue { $0.append("unsubscribe \(topic)") }
        }
    }

    @Test func holdsAreCountedAndTheAdapterSeesTransitionsInOrder() async {
        let adapter = RecordingAdapter()
        let pubsub = PubSub(adapter: adapter, dispatchers: [], logger: Logger(label: "test"))
        await pubsub.acquire("room:1")
        await pubsub.acquire("room:1")
        #expect(pubsub.activeTopicCount == 1)
        await pubsub.release("room:1")
        #expect(adapter.calls.withLockedValue { $0 } == ["subscribe room:1"])
        await pubsub.release("room:1")
        #expect(pubsub.activeTopicCount == 0)
        #expect(adapter.calls.withLockedValue { $0 } == ["subscribe room:1", "unsubscribe room:1"])
    }

    @Test func aLeaveAndAQuickRejoinReachTheAdapterInOrder() async {
        let adapter = RecordingAdapter()
        let pubsub = PubSub(adapter: adapter, dispatchers: [], logger: Logger(label: "test"))
        // The first join's slow subscribe is still under way when its only
        // holder leaves and another joins at once.
        async let first: Void = pubsub.acquire("room:2")
        try? await Task.sleep(for: .milliseconds(5))
        async let leave: Void = pubsub.release("room:2")
        try? await Task.sleep(for: .milliseconds(5))
        async let rejoin: Void = pubsub.acquire("room:2")
        _ = await (first, leave, rejoin)
        #expect(adapter.calls.withLockedValue { $0 } == ["subscribe room:2", "unsubscribe room:2", "subscribe room:2"])
        #expect(pubsub.activeTopicCount == 1)
    }
}
