import Crypto
import FoundationEssentials
import NIOCore
import Synchronization

/// The long-poll sessions this node owns, by token, and the key the tokens
/// are signed with (drawn at start: a restarted node's old tokens no longer
/// verify, as its sessions are gone).
///
/// A request's token is looked up as it is: only a token this node signed
/// can match one, so a poll costs no signature check (nor any decoding);
/// the token is read only when it matches none here (another node's, or
/// one that ended).
final class LongPollSessions: Sendable {
    /// By the session's whole token.
    private let sessions = Mutex<[String: LongPollSession]>([:])
    let key = SymmetricKey(size: .bits256)
    private let runtime: ServerRuntime

    init(runtime: ServerRuntime) {
        self.runtime = runtime
    }

    var count: Int { sessions.withLock { $0.count } }

    /// The session that `token` names, if this node signed the token for
    /// `path` and still has the session.
    func session(token: String, path: String) -> LongPollSession? {
        guard let session = sessions.withLock({ $0[token] }), session.path == path else { return nil }
        return session
    }

    /// Opens a session for an accepted socket on `eventLoop`: the socket
    /// counts as a connection of that loop (shed, drained and counted as a
    /// WebSocket is) until it closes. Runs on `eventLoop`.
    func open(_ accepted: AcceptedSocket, on eventLoop: any EventLoop, window: TimeAmount, peer: String) -> LongPollSession {
        eventLoop.assertInEventLoop()
        let id = Self.newID()
        let token = LongPollToken(node: runtime.pubsub.nodeName, session: id, path: accepted.endpoint.path).signed(with: key)
        let runtime = self.runtime
        let limits = runtime.configuration.limits
        let dispatcher = runtime.dispatcher(for: eventLoop)
        let slot = accepted.sessionSlot
        let session = LongPollSession(
            token: token, path: accepted.endpoint.path, eventLoop: eventLoop, window: window, maxQueuedBytes: limits.maxOutboundBytes,
            inboundRate: limits.inboundMessageRate,
            socketClosed: { connection in
                dispatcher.connections.unregister(connection)
                runtime.longPollSessionCount.subtract(1, ordering: .relaxed)
                runtime.connectionClosed()
                slot?.release()
            },
            forget: { [weak self] in
                self?.sessions.withLock { _ = $0.removeValue(forKey: token) }
            }
        )
        let connection = runtime.makeConnection(
            transport: session, on: eventLoop, accepted: accepted, metadata: ["peer": "\(peer)", "transport": "longpoll"]
        )
        session.connection = connection
        dispatcher.connections.register(connection)
        runtime.longPollSessionCount.add(1, ordering: .relaxed)
        runtime.connectionOpened()
        runtime.metrics.socketConnect("ok", transport: "longpoll")
        sessions.withLock { $0[token] = session }
        return session
    }

    /// 128 random bits, in hex.
    private static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
