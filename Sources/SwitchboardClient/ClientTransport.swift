import NIOCore
import SwitchboardProtocol

/// One connection of a ``ClientCore``, whichever way it travels (WebSocket or
/// long-poll), so the core routes, heartbeats, reconnects and rejoins the same
/// way over both.
///
/// A transport lives on the core's event loop and serves one connection
/// attempt, identified by the `connectionID` the core gave it. It reports back
/// by calling the core with that id:
/// - `transportOpened(connectionID:)` once it can carry messages,
/// - `frameReceived(_:kind:connectionID:)` for each message from the server,
/// - `closeReceived(code:reason:connectionID:)` with the close code (the
///   server's close frame, or the code a long-poll session ends with),
/// - `recordAttemptError(_:connectionID:)` before it opened and
///   `connectionError(_:connectionID:)` after,
/// - `transportClosed(connectionID:)` last, exactly once, asynchronously after
///   ``close(code:reason:)`` or ``abort()``.
///
/// Reports carrying an id the core no longer uses are ignored.
protocol ClientTransport: AnyObject {
    /// Which kind of transport this is.
    var kind: PhoenixClient.Transport { get }
    /// Whether the core sends heartbeats over this transport (phoenix.js skips
    /// them over long-poll).
    var sendsHeartbeats: Bool { get }
    /// Allocator for messages the core encodes for this transport.
    var allocator: ByteBufferAllocator { get }

    /// Starts connecting.
    func start()
    /// Sends one encoded message; only called once the transport opened.
    func send(_ data: ByteBuffer, kind: FrameKind)
    /// Ends the connection in order with `code` and `reason`.
    func close(code: UInt16, reason: String)
    /// Drops the connection at once (abandoned attempt, close timeout).
    func abort()
}
