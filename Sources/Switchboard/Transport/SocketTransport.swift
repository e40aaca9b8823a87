import NIOCore

/// The client connection beneath one socket, as the socket and the fan-out
/// see it (Phoenix's `Phoenix.Socket.Transport`): where encoded messages go,
/// how they are wrapped, and how the connection ends.
///
/// A transport turns its client's requests into a ``SocketConnection`` (the
/// socket's `connect`, with params and connect info), hands it the client's
/// decoded messages (``SocketConnection/receive(_:)``), enforces its own
/// timeouts, and tells it when the client is gone
/// (``SocketConnection/closed()``). Channels, PubSub and the fan-out only
/// ever see this protocol. WebSocket (`Transport/WebSocket/`) is one
/// transport; a new one (long-poll) implements this and lives beside it.
///
/// Every method runs on the connection's event loop.
package protocol SocketTransport: AnyObject, Sendable {
    /// How this transport wraps a serialized message. The fan-out makes each
    /// framing once per broadcast and event loop, and writes the same bytes
    /// to every connection that uses it.
    var framing: MessageFraming { get }

    /// Queues a message already wrapped by ``framing``; it leaves with the
    /// next ``flush()``. Does nothing once the connection is gone.
    func write(_ bytes: ByteBuffer)

    /// Sends the queued messages.
    func flush()

    /// Ends the connection, telling the client why in the transport's own
    /// terms (a WebSocket close code, say). Messages queued before it still
    /// go out first.
    func close(_ reason: DisconnectReason)

    /// Whether the client connection is up and not closing.
    var isActive: Bool { get }
}
