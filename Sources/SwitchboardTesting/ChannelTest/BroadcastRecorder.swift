import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Switchboard

/// The broadcasts on one topic of a ``ChannelTest``'s node, recorded from
/// the moment ``ChannelTest/watchBroadcasts(on:)`` returned.
public final class BroadcastRecorder: Sendable {
    /// One broadcast: its event and payload.
    public struct Broadcast: Sendable, Hashable {
        public var event: String
        public var payload: Payload
    }

    private struct State {
        var received: [Broadcast] = []
        var waiters: [(event: String, promise: EventLoopPromise<Broadcast>)] = []
    }

    public let topic: String
    private let state = NIOLockedValueBox(State())
    private let eventLoop: any EventLoop
    private let subscription = NIOLockedValueBox<PubSubSubscription?>(nil)
    private let pubsub: PubSub

    private init(topic: String, pubsub: PubSub, eventLoop: any EventLoop) {
        self.topic = topic
        self.pubsub = pubsub
        self.eventLoop = eventLoop
    }

    static func start(topic: String, pubsub: PubSub) async -> BroadcastRecorder {
        let recorder = BroadcastRecorder(topic: topic, pubsub: pubsub, eventLoop: MultiThreadedEventLoopGroup.singleton.any())
        let subscription = await pubsub.subscribe(topic) { [weak recorder] message in
            recorder?.record(Broadcast(event: message.event, payload: message.payload))
        }
        recorder.subscription.withLockedValue { $0 = subscription }
        return recorder
    }

    deinit {
        if let subscription = subscription.withLockedValue({ $0 }) {
            let pubsub = self.pubsub
            Task { await pubsub.unsubscribe(subscription) }
        }
    }

    private func record(_ broadcast: Broadcast) {
        let waiter: EventLoopPromise<Broadcast>? = state.withLockedValue { state in
            if let index = state.waiters.firstIndex(where: { $0.event == broadcast.event }) {
                return state.waiters.remove(at: index).promise
            }
            state.received.append(broadcast)
            return nil
        }
        waiter?.succeed(broadcast)
    }

    /// The first recorded (not yet taken) or next broadcast of `event`
    /// (Phoenix's `assert_broadcast`); throws ``ChannelTestError`` when none
    /// comes within `timeout`.
    public func next(_ event: String, timeout: TimeAmount = .seconds(5)) async throws -> Payload {
        let promise = eventLoop.makePromise(of: Broadcast.self)
        let taken: Broadcast? = state.withLockedValue { state in
            if let index = state.received.firstIndex(where: { $0.event == event }) {
                return state.received.remove(at: index)
            }
            state.waiters.append((event, promise))
            return nil
        }
        if let taken {
            promise.succeed(taken)
            return taken.payload
        }
        let topic = self.topic
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(ChannelTestError("no \"\(event)\" broadcast on \(topic) within \(timeout)"))
        }
        defer { timer.cancel() }
        do {
            return try await promise.futureResult.get().payload
        } catch {
            state.withLockedValue { state in state.waiters.removeAll { $0.promise.futureResult === promise.futureResult } }
            throw error
        }
    }

    /// Every broadcast recorded and not yet taken by ``next(_:timeout:)``.
    public var pending: [Broadcast] {
        state.withLockedValue { $0.received }
    }
}
