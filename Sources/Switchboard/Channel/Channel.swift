import OrderedCollections

/// The application's handler for the topics that match its route (`room:*`).
///
/// The server makes one instance per (socket, topic) joined, through the factory
/// given to ``ChannelRouter``. An instance handles its messages one at a time,
/// in order — `join` first, then `handleIn`, `handleOut` and `handleInfo` as
/// they arrive — while other channels of the same socket carry on.
/// Make it an `actor` (or a `Sendable` class) to keep state between calls.
///
/// A thrown error ends the instance: the client gets `phx_error` for that topic
/// only, and ``terminate(reason:context:)`` runs.
public protocol Channel: Sendable {
    /// Broadcast events that must pass through ``handleOut(event:payload:context:)``
    /// instead of being written to the client as they are.
    static var intercepts: Set<String> { get }

    /// Whether the topic has presence (Phoenix's `Presence`): when true, the
    /// client gets `presence_state` right after every join reply (rejoins
    /// too), before any `presence_diff`. Track with ``ChannelContext/track(key:meta:)``.
    static var tracksPresence: Bool { get }

    /// Authorizes a join. `.ok(response)` subscribes the instance to the topic
    /// and replies ok; `.error(response)` refuses and discards the instance.
    func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult

    /// Handles one message the client pushed on this topic.
    func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult

    /// Rewrites or drops an intercepted broadcast before it reaches this client.
    func handleOut(event: String, payload: Payload, context: ChannelContext) async throws -> HandleOutResult

    /// Handles a message sent to the instance itself (``ChannelContext/send(_:)``, timers).
    func handleInfo(_ message: any Sendable, context: ChannelContext) async throws

    /// Runs once when the instance ends, whatever the reason.
    func terminate(reason: TerminationReason, context: ChannelContext) async
}

extension Channel {
    public static var intercepts: Set<String> { [] }

    public static var tracksPresence: Bool { false }

    public func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
        .noReply
    }

    public func handleOut(event: String, payload: Payload, context: ChannelContext) async throws -> HandleOutResult {
        .push(payload)
    }

    public func handleInfo(_ message: any Sendable, context: ChannelContext) async throws {}

    public func terminate(reason: TerminationReason, context: ChannelContext) async {}
}

/// The answer to a `phx_join`.
public enum JoinResult: Sendable {
    /// Join accepted; `response` goes back in the ok reply.
    case ok(JSONValue)
    /// Join refused; `response` goes back in the error reply (`{"reason": …}` by convention).
    case error(JSONValue)
}

/// What to do after ``Channel/handleIn(event:payload:context:)``.
public enum HandleInResult: Sendable {
    /// Reply to the message with this status and payload.
    case reply(ReplyStatus, Payload)
    /// No reply now; answer later with ``ChannelContext/reply(to:status:payload:)`` if at all.
    case noReply
    /// End the instance after an optional reply; the client gets `phx_close`.
    case stop(reason: String, reply: (ReplyStatus, Payload)?)

    /// Reply ok with a JSON response.
    public static func ok(_ response: JSONValue = .object([:])) -> HandleInResult { .reply(.ok, .json(response)) }
    /// Reply error with a JSON response.
    public static func error(_ response: JSONValue) -> HandleInResult { .reply(.error, .json(response)) }
}

/// What to do with an intercepted broadcast.
public enum HandleOutResult: Sendable {
    /// Push this payload to the client under the broadcast's event.
    case push(Payload)
    /// Do not send it to this client.
    case drop
}

/// Why a channel instance ended.
public enum TerminationReason: Sendable, CustomStringConvertible {
    /// The client sent `phx_leave`.
    case left
    /// The socket closed.
    case socketClosed
    /// The client joined the same topic again; this instance was replaced.
    case rejoined
    /// A handler returned `.stop` or called ``ChannelContext/stop(reason:)``.
    case stopped(String)
    /// A handler threw.
    case crashed(any Error)

    public var description: String {
        switch self {
        case .left: return "left"
        case .socketClosed: return "socket closed"
        case .rejoined: return "rejoined"
        case .stopped(let reason): return "stopped: \(reason)"
        case .crashed(let error): return "crashed: \(error)"
        }
    }
}
