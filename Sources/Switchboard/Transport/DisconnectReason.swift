/// Why the server ends a client connection. Each transport tells its client
/// in its own terms (``SocketTransport/close(_:)``): a WebSocket sends the
/// close code named on each case.
package enum DisconnectReason: Sendable, Hashable {
    /// The node is shutting down, draining or shedding: reconnect, maybe
    /// elsewhere (WebSocket 1012). `detail` is shown to the client.
    case serviceRestart(detail: String)
    /// The socket was disconnected by its id (WebSocket 1001).
    case disconnected
    /// Nothing heard from the client within the heartbeat timeout (4000).
    case heartbeatTimeout
    /// The client stopped reading and its queue passed the limit (4008).
    case slowConsumer
    /// More messages than the inbound rate limit allows (1008).
    case rateLimited
    /// A message that is not a Phoenix message of the socket's serializer (1002).
    case malformedMessage
    /// A transport-level protocol error (1002), `detail` for the client.
    case protocolError(detail: String)
    /// A message over the size limit (1009).
    case messageTooLarge
    /// A text message that is not UTF-8 (1007).
    case invalidText
}
