import Logging
import NIOCore
import NIOHTTP1

/// A socket accepted by its endpoint's `connect`, waiting for the upgrade to finish.
package struct AcceptedSocket: Sendable {
    var endpoint: SocketEndpoint
    var version: SerializerVersion
    var assigns: Assigns
    var socketID: String?
    /// The per-address slot of a session-based transport, to give back when it ends.
    var sessionSlot: SessionSlot?

    package init(endpoint: SocketEndpoint, version: SerializerVersion, assigns: Assigns, socketID: String?) {
        self.endpoint = endpoint
        self.version = version
        self.assigns = assigns
        self.socketID = socketID
    }
}

/// Who holds a client's per-address slot (``SocketAdmission/admit(channel:head:endpoint:authToken:slot:)``).
enum SlotOwner: Sendable {
    /// The connection that carried the request, until it closes.
    case connection
    /// The session the request creates, until it ends.
    case session
}

/// A per-address slot a session holds; give it back once.
struct SessionSlot: Sendable {
    fileprivate let limiter: ConnectionLimiter?
    fileprivate let address: String

    func release() {
        limiter?.release(address)
    }
}

/// The checks every transport makes before a client becomes a socket, in
/// this order: the node accepts sockets (503), the origin (403), the
/// connections per address (429; counted from accept, see
/// ``admitConnection(_:)``), the serializer `vsn` (400), then the
/// endpoint's `connect` with the params and connect info (403 when it
/// refuses, 500 when it throws). A transport adds its own checks first (the
/// WebSocket upgrade headers) and its own way of carrying a token.
struct SocketAdmission: Sendable {
    /// What became of a request.
    enum Outcome: Sendable {
        case accepted(AcceptedSocket)
        case refused(HTTPResponseStatus)
    }

    let runtime: ServerRuntime
    /// Connections per client address, for `limits.maxConnectionsPerAddress`.
    let connectionLimiter = ConnectionLimiter()

    /// Admits the client of `channel` that sent `head` to `endpoint`, with
    /// the token its transport carried. Never fails; a refusal is logged.
    ///
    /// With `slot` `.connection` (a WebSocket: the socket is the
    /// connection), a per-address slot taken here for a proxy's client is
    /// given back when `channel` closes; with `.session`, the slot comes with
    /// the acceptance (``Outcome/accepted``) for the caller to give back
    /// (``SessionSlot/release()``) when its session ends, whatever carried
    /// the request.
    func admit(
        channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, authToken: String?,
        slot: SlotOwner = .connection
    ) -> EventLoopFuture<Outcome> {
        let eventLoop = channel.eventLoop
        if !runtime.isAcceptingSockets {
            return eventLoop.makeSucceededFuture(.refused(.serviceUnavailable))
        }
        let (path, query) = QueryString.split(uri: head.uri)
        let params = QueryString.parse(query)
        let info = ConnectInfo(
            peerAddress: channel.remoteAddress.map(Self.describe),
            uri: head.uri,
            headers: head.headers.map { (name: $0.name.lowercased(), value: $0.value) },
            authToken: authToken
        )
        if let refusal = checkOrigin(channel: channel, head: head, endpoint: endpoint, info: info) {
            return eventLoop.makeSucceededFuture(.refused(refusal))
        }
        let sessionSlot: SessionSlot?
        switch slot {
        case .connection:
            if let refusal = holdProxiedSlot(of: channel, head: head) {
                return eventLoop.makeSucceededFuture(.refused(refusal))
            }
            sessionSlot = nil
        case .session:
            guard let taken = takeSessionSlot(channel: channel, head: head) else {
                return eventLoop.makeSucceededFuture(.refused(.tooManyRequests))
            }
            sessionSlot = taken
        }
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
            sessionSlot?.release()
            return eventLoop.makeSucceededFuture(.refused(.badRequest))
        }
        let logger = runtime.logger
        let promise = eventLoop.makePromise(of: ConnectResult.self)
        promise.completeWithTask {
            try await endpoint.socket.connect(params: params, info: info)
        }
        return promise.futureResult.map { result -> Outcome in
            switch result {
            case .ok(let assigns):
                var accepted = AcceptedSocket(endpoint: endpoint, version: version, assigns: assigns,
                                              socketID: endpoint.socket.id(assigns: assigns))
                accepted.sessionSlot = sessionSlot
                return .accepted(accepted)
            case .error:
                sessionSlot?.release()
                logger.info("socket connect refused", metadata: ["path": "\(path)", "peer": "\(info.peerAddress ?? "-")"])
                return .refused(.forbidden)
            }
        }.recover { error in
            sessionSlot?.release()
            logger.error("socket connect failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return .refused(.internalServerError)
        }
    }

    /// The origin check: `nil` to go on, or 403 (logged here, once).
    private func checkOrigin(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, info: ConnectInfo) -> HTTPResponseStatus? {
        let configuration = runtime.configuration
        let origins = head.headers["origin"]
        let allowed = endpoint.checkOrigin.allows(
            originHeaders: origins,
            request: Origin.forRequest(headers: info.headers, trustForwarded: configuration.trustedProxies.contains(channel.remoteAddress)),
            publicHost: configuration.publicHost,
            info: info
        )
        guard allowed else {
            let shown = origins.map { JSONValue.string(String($0.prefix(256))).jsonString }.joined(separator: ", ")
            runtime.logger.warning("socket origin refused", metadata: [
                "origin": "\(shown)", "check_origin": "\(endpoint.checkOrigin)", "peer": "\(info.peerAddress ?? "-")",
            ])
            return .forbidden
        }
        return nil
    }

    /// A WebSocket behind a trusted proxy takes the slot of the address the
    /// proxy forwards, until the connection closes: `nil` to go on, or 429.
    /// A direct client's slot was taken when its connection was accepted
    /// (``admitConnection(_:)``); a proxy's clients are told apart only now.
    private func holdProxiedSlot(of channel: any NIOCore.Channel, head: HTTPRequestHead) -> HTTPResponseStatus? {
        guard runtime.configuration.trustedProxies.contains(channel.remoteAddress),
              let address = clientAddress(of: channel, head: head)
        else { return nil }
        return holdSlot(of: channel, for: address) ? nil : .tooManyRequests
    }

    /// A session's slot, for the client address (the peer, or the address a
    /// trusted proxy forwards); `nil` when the address holds its limit. The
    /// session holds it, beside the slot of whichever connection carries
    /// its requests.
    private func takeSessionSlot(channel: any NIOCore.Channel, head: HTTPRequestHead) -> SessionSlot? {
        guard runtime.configuration.limits.maxConnectionsPerAddress != nil, let address = clientAddress(of: channel, head: head) else {
            return SessionSlot(limiter: nil, address: "")
        }
        return reserveSlot(for: address) ? SessionSlot(limiter: connectionLimiter, address: address) : nil
    }

    /// The client's address: the one a trusted proxy forwards, else the peer's.
    private func clientAddress(of channel: any NIOCore.Channel, head: HTTPRequestHead) -> String? {
        let proxies = runtime.configuration.trustedProxies
        guard proxies.contains(channel.remoteAddress) else { return channel.remoteAddress?.ipAddress }
        return proxies.clientAddress(peer: channel.remoteAddress, forwardedFor: head.headers["x-forwarded-for"])
    }

    /// Takes the per-address slot of a connection the listener just
    /// accepted, held until it closes: every TCP connection counts, whether
    /// it upgrades, sends plain requests or nothing at all. `false` when its
    /// address holds `limits.maxConnectionsPerAddress` already (the first
    /// request is then answered 429). A trusted proxy's connections are
    /// counted by the address it forwards, once the request says it.
    func admitConnection(_ channel: any NIOCore.Channel) -> Bool {
        guard runtime.configuration.limits.maxConnectionsPerAddress != nil,
              let peer = channel.remoteAddress, !runtime.configuration.trustedProxies.contains(peer),
              let address = peer.ipAddress
        else { return true }
        return holdSlot(of: channel, for: address)
    }

    /// Takes a slot for `address` until `channel` closes.
    private func holdSlot(of channel: any NIOCore.Channel, for address: String) -> Bool {
        guard reserveSlot(for: address) else { return false }
        let limiter = connectionLimiter
        channel.closeFuture.whenComplete { _ in limiter.release(address) }
        return true
    }

    /// Takes one of `address`'s slots; `false` (logged, within the node's
    /// budget) when it holds `limits.maxConnectionsPerAddress` already.
    private func reserveSlot(for address: String) -> Bool {
        guard let limit = runtime.configuration.limits.maxConnectionsPerAddress else { return true }
        guard connectionLimiter.reserve(address, limit: limit) else {
            runtime.connectionErrors.warning(runtime.logger, "socket refused: too many connections from one address", metadata: [
                "address": "\(address)", "limit": "\(limit)",
            ])
            return false
        }
        return true
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
