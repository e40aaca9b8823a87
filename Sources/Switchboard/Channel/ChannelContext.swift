import Logging
import NIOCore

/// What a channel handler can do and know, passed to every callback
/// (Phoenix's `socket` argument).
public struct ChannelContext: Sendable {
    let instance: ChannelInstance

    /// The reference of the message being handled in ``Channel/handleIn(event:payload:context:)``,
    /// to reply later with ``reply(to:status:payload:)``; `nil` elsewhere.
    public let replyRef: ReplyRef?

    init(instance: ChannelInstance, replyRef: ReplyRef? = nil) {
        self.instance = instance
        self.replyRef = replyRef
    }

    /// The topic this instance joined (`"room:lobby"`).
    public var topic: String { instance.topic }
    /// The ref of the join that created this instance.
    public var joinRef: String? { instance.joinRef }
    /// The socket's assigns, set at connect.
    public var assigns: Assigns { instance.connection.assigns }
    /// The socket's id (``Socket/id(assigns:)``), if any.
    public var socketID: String? { instance.connection.socketID }
    /// This node's PubSub.
    public var pubsub: PubSub { instance.connection.pubsub }
    /// A logger tagged with the connection and topic.
    public var logger: Logger { instance.logger }

    /// Pushes an event to this client only: `[join_ref, null, topic, event, payload]`.
    public func push(_ event: String, _ payload: Payload) {
        instance.connection.send(.message(Message(joinRef: joinRef, ref: nil, topic: topic, event: event, payload: payload)))
    }

    /// Pushes a JSON event to this client only.
    public func push(_ event: String, _ payload: JSONValue) {
        push(event, .json(payload))
    }

    /// Broadcasts to every subscriber of this topic, on every node, this one included.
    public func broadcast(_ event: String, _ payload: Payload) async throws {
        try await pubsub.broadcast(topic: topic, event: event, payload: payload)
    }

    /// Broadcasts a JSON payload to every subscriber of this topic.
    public func broadcast(_ event: String, _ payload: JSONValue) async throws {
        try await broadcast(event, .json(payload))
    }

    /// Broadcasts to every subscriber of this topic except this instance.
    public func broadcastFrom(_ event: String, _ payload: Payload) async throws {
        try await pubsub.broadcastFrom(instance.id, topic: topic, event: event, payload: payload)
    }

    /// Broadcasts a JSON payload to every subscriber of this topic except this instance.
    public func broadcastFrom(_ event: String, _ payload: JSONValue) async throws {
        try await broadcastFrom(event, .json(payload))
    }

    /// Answers a message whose handler returned `.noReply`.
    public func reply(to ref: ReplyRef, status: ReplyStatus, payload: Payload = .empty) {
        instance.connection.send(.reply(Reply(joinRef: ref.joinRef, ref: ref.ref, topic: ref.topic, status: status, response: payload)))
    }

    /// Sends `message` to this instance's ``Channel/handleInfo(_:context:)``, after
    /// the messages already queued.
    public func send(_ message: any Sendable) {
        instance.enqueue(.info(message))
    }

    /// Sends `message` to this instance after `delay`; cancel with the returned timer.
    @discardableResult
    public func send(_ message: any Sendable, after delay: Duration) -> ChannelTimer {
        let instance = self.instance
        let scheduled = instance.connection.eventLoop.scheduleTask(in: TimeAmount(delay)) {
            instance.enqueue(.info(message))
        }
        return ChannelTimer(scheduled: scheduled)
    }

    /// Ends this instance: the client gets `phx_close` and ``Channel/terminate(reason:context:)`` runs.
    public func stop(reason: String) {
        instance.enqueue(.stop(reason: reason))
    }
}

/// Identifies a client message, to answer it later.
public struct ReplyRef: Sendable, Hashable {
    public let joinRef: String?
    public let ref: String?
    public let topic: String
}

/// A message scheduled with ``ChannelContext/send(_:after:)``.
public struct ChannelTimer: Sendable {
    let scheduled: Scheduled<Void>

    /// Cancels the message if it has not been sent yet.
    public func cancel() {
        scheduled.cancel()
    }
}
