import NIOCore
import SwitchboardProtocol

/// A Phoenix Channels client on SwiftNIO, behaving as phoenix.js 1.8:
/// one WebSocket (or HTTP long-poll session, see
/// ``Configuration/transport`` and ``Configuration/longPollFallback``),
/// channels joined over it, heartbeats, automatic reconnect with backoff and
/// rejoin of every joined channel.
///
/// All state lives on one event loop taken from the configured group
/// (``eventLoop``); the async methods hop there. Frames are decoded and
/// dispatched on that loop, and `on` callbacks run there, with no task or
/// stream hop per frame, so the client is cheap enough for load generation.
/// The `messages` streams, ``events`` and the `next…` helpers are there for
/// tests.
///
/// ```swift
/// let client = PhoenixClient(configuration: .init(host: "127.0.0.1", port: 4000))
/// try await client.connect()
/// let room = client.channel("room:lobby", params: ["name": "ann"])
/// _ = try await room.join()
/// let reply = try await room.push("ping", ["x": 1])
/// let broadcast = try await room.nextMessage(event: "shout")
/// await client.disconnect()
/// ```
public final class PhoenixClient: Sendable {
    public let configuration: Configuration
    /// The event loop all of this client's state and callbacks are on.
    public let eventLoop: any EventLoop
    /// Connection events: open, close (with the server's close code), errors,
    /// scheduled reconnects. Keeps the newest 1024 events unread.
    public let events: AsyncStream<ClientEvent>
    let core: NIOLoopBoundBox<ClientCore>

    public init(configuration: Configuration) {
        let eventLoop = configuration.eventLoopGroup.next()
        let (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self, bufferingPolicy: .bufferingNewest(1024))
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.events = events
        self.core = NIOLoopBoundBox.makeBoxSendingValue(
            ClientCore(configuration: configuration, eventLoop: eventLoop, eventsContinuation: continuation),
            as: ClientCore.self,
            eventLoop: eventLoop
        )
    }

    /// A client for `host:port` with the other settings at their defaults.
    public convenience init(host: String, port: Int) {
        self.init(configuration: Configuration(host: host, port: port))
    }

    deinit {
        let core = self.core
        self.eventLoop.execute {
            core.value.shutdown()
        }
    }

    /// Runs `body` on the event loop: inline when already there.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if self.eventLoop.inEventLoop {
            body()
        } else {
            self.eventLoop.execute(body)
        }
    }

    // MARK: - Connection

    /// Opens the WebSocket (TCP connect and HTTP upgrade), or the long-poll
    /// session, and returns once it is open; returns at once if it already is.
    ///
    /// A refused upgrade throws ``ClientError/upgradeRefused(status:body:)``
    /// (see ``ClientError/httpStatus``), a refused long-poll session
    /// ``ClientError/longPollStatus(_:)``. A failed first connect is not
    /// retried (with ``Configuration/longPollFallback``, a failed WebSocket
    /// falls back to long-poll first); once connected, unexpected closes
    /// reconnect with the reconnect backoff.
    public func connect() async throws {
        try await self.eventLoop.flatSubmit {
            self.core.value.connect()
        }.get()
    }

    /// Closes the connection with `code` and stops reconnecting; returns once
    /// the connection is closed (or the close timeout dropped it).
    /// Channels keep their state and rejoin if ``connect()`` is called again.
    public func disconnect(code: UInt16 = 1000, reason: String = "") async {
        _ = try? await self.eventLoop.flatSubmit {
            self.core.value.disconnect(code: code, reason: reason)
        }.get()
    }

    /// Whether the connection (WebSocket or long-poll session) is open now.
    public var isConnected: Bool {
        get async {
            (try? await self.eventLoop.submit { self.core.value.isConnected }.get()) ?? false
        }
    }

    /// The transport the client connects with now: the configured one, or
    /// `.longPoll` once the fallback rule gave up on the WebSocket.
    public var transport: Transport {
        get async {
            (try? await self.eventLoop.submit { self.core.value.transportKind }.get()) ?? self.configuration.transport
        }
    }

    /// A snapshot of the client's counters.
    public var statistics: Statistics {
        get async {
            (try? await self.eventLoop.submit { self.core.value.statistics }.get()) ?? Statistics()
        }
    }

    // MARK: - Channels

    /// A channel handle for `topic`; nothing is sent until ``ClientChannel/join(timeout:)``.
    /// `params` is the join payload and must be a JSON object.
    public func channel(_ topic: String, params: JSONValue = [:]) -> ClientChannel {
        ClientChannel(topic: topic, params: params, client: self)
    }

    // MARK: - Raw frames

    /// Writes a text frame with exactly `text` (malformed-frame tests).
    public func sendRaw(text: String) async throws {
        try await self.eventLoop.flatSubmit {
            var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            return self.eventLoop.makeCompletedFuture(self.core.value.sendRaw(buffer, kind: .text).mapError { $0 as any Error })
        }.get()
    }

    /// Writes a binary frame with exactly `binary`.
    public func sendRaw(binary: [UInt8]) async throws {
        try await self.eventLoop.flatSubmit {
            var buffer = ByteBufferAllocator().buffer(capacity: binary.count)
            buffer.writeBytes(binary)
            return self.eventLoop.makeCompletedFuture(self.core.value.sendRaw(buffer, kind: .binary).mapError { $0 as any Error })
        }.get()
    }

    /// Encodes `message` with the client's serializer and writes it as is,
    /// bypassing channel state (e.g. a push with a stale join_ref).
    public func send(_ message: Message) async throws {
        try await self.eventLoop.flatSubmit {
            self.eventLoop.makeCompletedFuture(self.core.value.sendNow(message).mapError { $0 as any Error })
        }.get()
    }

    /// A fresh message ref from the client's counter.
    public func makeRef() async -> String {
        (try? await self.eventLoop.submit { self.core.value.makeRef() }.get()) ?? "0"
    }

    // MARK: - Observers

    /// Calls `callback` on the event loop each time the connection opens.
    public func onOpen(_ callback: @escaping @Sendable () -> Void) {
        self.onLoop { self.core.value.addOpenCallback(callback) }
    }

    /// Calls `callback` on the event loop each time an open connection closes.
    public func onClose(_ callback: @escaping @Sendable (CloseInfo) -> Void) {
        self.onLoop { self.core.value.addCloseCallback(callback) }
    }

    /// Calls `callback` on the event loop for failed attempts, connection
    /// errors and undecodable frames.
    public func onError(_ callback: @escaping @Sendable (any Error) -> Void) {
        self.onLoop { self.core.value.addErrorCallback(callback) }
    }

    /// Calls `callback` on the event loop with every decoded frame, after the
    /// channels have seen it.
    public func onMessage(_ callback: @escaping @Sendable (OutboundFrame) -> Void) {
        self.onLoop { self.core.value.addMessageCallback(callback) }
    }

    /// The first event, recorded since the client was made or arriving within
    /// `timeout`, that `predicate` accepts; it is taken so the next call looks
    /// further. Throws ``ClientError/timeout``.
    public func nextEvent(
        timeout: TimeAmount = .seconds(5),
        where predicate: @escaping @Sendable (ClientEvent) -> Bool = { _ in true }
    ) async throws -> ClientEvent {
        try await self.eventLoop.flatSubmit {
            self.core.value.eventInbox.next(where: predicate, timeout: timeout)
        }.get()
    }

    /// The next `.close` event's details (see ``nextEvent(timeout:where:)``).
    public func nextClose(timeout: TimeAmount = .seconds(5)) async throws -> CloseInfo {
        let event = try await self.nextEvent(timeout: timeout) { $0.closeInfo != nil }
        guard let info = event.closeInfo else { throw ClientError.timeout }
        return info
    }

    /// Waits for the next `.open` event (see ``nextEvent(timeout:where:)``).
    public func nextOpen(timeout: TimeAmount = .seconds(5)) async throws {
        _ = try await self.nextEvent(timeout: timeout) { $0.isOpen }
    }
}
