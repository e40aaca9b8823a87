import NIOCore
import SwitchboardProtocol
import Synchronization

/// One topic joined (or to be joined) over a ``PhoenixClient``, as a
/// phoenix.js `Channel`.
///
/// The handle is `Sendable`; its state lives on the client's event loop.
/// Joins, pushes and leaves are async and matched to their replies by ref.
/// After a reconnect, a `phx_error` or a join timeout, a channel that had
/// been joined sends a fresh `phx_join` with a new join_ref; messages
/// carrying an older join_ref are dropped.
public final class ClientChannel: Sendable {
    public let topic: String
    /// The join payload.
    public let params: JSONValue
    public let client: PhoenixClient
    /// Every message (not reply) for this topic that the channel accepts,
    /// `phx_error` and `phx_close` included. Finished at once when the client's
    /// `recordsMessages` is off.
    public let messages: AsyncStream<Message>
    private let continuation: AsyncStream<Message>.Continuation?
    private let box: NIOLoopBoundBox<ChannelCore?>
    private let bindingRefs = Atomic<Int>(0)

    init(topic: String, params: JSONValue, client: PhoenixClient) {
        self.topic = topic
        self.params = params
        self.client = client
        let (messages, continuation) = AsyncStream.makeStream(of: Message.self)
        self.messages = messages
        if client.configuration.recordsMessages {
            self.continuation = continuation
        } else {
            continuation.finish()
            self.continuation = nil
        }
        self.box = .makeEmptyBox(valueType: ChannelCore.self, eventLoop: client.eventLoop)
    }

    /// The loop-confined state, made on first use.
    var core: ChannelCore {
        if let core = self.box.value {
            return core
        }
        let core = ChannelCore(
            topic: self.topic,
            params: self.params,
            socket: self.client.core.value,
            continuation: self.continuation
        )
        self.box.value = core
        return core
    }

    private var eventLoop: any EventLoop { self.client.eventLoop }

    // MARK: - Join and leave

    /// Joins the topic and returns the `ok` response.
    ///
    /// Throws ``ClientError/replyError(_:_:)`` when the server refuses, and
    /// ``ClientError/timeout`` without an answer in time. A first join that
    /// fails leaves the channel closed (it can be joined again); a channel
    /// that had been joined keeps rejoining with the rejoin backoff, as
    /// phoenix.js. Returns at once when already joined; if sent while the
    /// socket is closed, the join goes out when it opens.
    public func join(timeout: TimeAmount? = nil) async throws -> JSONValue {
        let timeout = timeout ?? self.client.configuration.timeout
        return try await self.eventLoop.flatSubmit {
            self.core.join(timeout: timeout)
        }.get()
    }

    /// Sends `phx_leave` and returns when the server acknowledged it, the
    /// server closed the channel, or the timeout passed; the channel is then
    /// closed and stops rejoining.
    public func leave(timeout: TimeAmount? = nil) async {
        let timeout = timeout ?? self.client.configuration.timeout
        _ = try? await self.eventLoop.flatSubmit {
            self.core.leave(timeout: timeout)
        }.get()
    }

    // MARK: - Push

    /// Pushes `event` with a JSON payload and returns the reply, whatever its
    /// status. Throws ``ClientError/timeout`` without a reply in time,
    /// ``ClientError/notJoined`` before a join, ``ClientError/disconnected`` or
    /// ``ClientError/channelError`` if the connection or channel went away
    /// first. While the channel is joining, pushes wait for the join.
    public func push(_ event: String, _ payload: JSONValue = [:], timeout: TimeAmount? = nil) async throws -> Reply {
        try await self.push(event, payload: .json(payload), timeout: timeout)
    }

    /// Pushes `event` with a JSON or binary payload (binary goes as a V2
    /// binary frame) and returns the reply.
    public func push(_ event: String, payload: Payload, timeout: TimeAmount? = nil) async throws -> Reply {
        let timeout = timeout ?? self.client.configuration.timeout
        return try await self.eventLoop.flatSubmit {
            let promise = self.eventLoop.makePromise(of: Reply.self)
            self.core.push(event: event, payload: payload, timeout: timeout) { result in
                promise.completeWith(result.mapError { $0 as any Error })
            }
            return promise.futureResult
        }.get()
    }

    /// Pushes without awaiting: `onReply` runs on the event loop with the reply
    /// or the error. For load generation; called on the event loop (e.g. from
    /// an `on` callback) it sends inline, without a hop.
    public func push(
        _ event: String,
        payload: Payload,
        timeout: TimeAmount? = nil,
        onReply: @escaping @Sendable (Result<Reply, ClientError>) -> Void = { _ in }
    ) {
        let timeout = timeout ?? self.client.configuration.timeout
        self.client.onLoop {
            self.core.push(event: event, payload: payload, timeout: timeout, completion: onReply)
        }
    }

    // MARK: - Events

    /// Calls `handler` on the client's event loop for every message with
    /// `event` on this channel (`phx_error` and `phx_close` included). Returns
    /// a ref for ``off(_:ref:)``.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (Message) -> Void) -> Int {
        let ref = self.bindingRefs.add(1, ordering: .relaxed).newValue
        self.client.onLoop {
            self.core.bind(event: event, ref: ref, handler: handler)
        }
        return ref
    }

    /// Removes the handler `ref` for `event`, or all handlers for `event` without a ref.
    public func off(_ event: String, ref: Int? = nil) {
        self.client.onLoop {
            self.core.unbind(event: event, ref: ref)
        }
    }

    /// The first recorded (not yet taken) or next message with `event` (any
    /// event if `nil`); throws ``ClientError/timeout``. Messages taken here
    /// still appear on ``messages``.
    public func nextMessage(event: String? = nil, timeout: TimeAmount = .seconds(5)) async throws -> Message {
        try await self.nextMessage(timeout: timeout) { message in
            event == nil || message.event == event
        }
    }

    /// The first recorded or next message `predicate` accepts; throws ``ClientError/timeout``.
    public func nextMessage(
        timeout: TimeAmount = .seconds(5),
        where predicate: @escaping @Sendable (Message) -> Bool
    ) async throws -> Message {
        try await self.eventLoop.flatSubmit {
            self.core.inbox.next(where: predicate, timeout: timeout)
        }.get()
    }

    // MARK: - State

    /// The channel's state now.
    public var state: State {
        get async {
            (try? await self.eventLoop.submit { self.core.state }.get()) ?? .closed
        }
    }

    /// The current join's ref (`join_ref`), `nil` before the first join.
    public var joinRef: String? {
        get async {
            (try? await self.eventLoop.submit { self.core.joinRef }.get()) ?? nil
        }
    }
}
