import Logging
import NIOCore
import NIOHTTP1

/// A socket accepted by its endpoint's `connect`, waiting for the upgrade to finish.
package struct AcceptedSocket: Sendable {
    var endpoint: SocketEndpoint
    var version: SerializerVersion
    var assigns: Assigns
    var socketID: String?

    package init(endpoint: SocketEndpoint, version: SerializerVersion, assigns: Assigns, socketID: String?) {
        self.endpoint = endpoint
        self.version = version
        self.assigns = assigns
        self.socketID = socketID
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
    /// A per-address slot taken here is given back when `channel` closes.
    func admit(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, authToken: String?) -> EventLoopFuture<Outcome> {
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
        if let refusal = checkOriginAndAddress(channel: channel, head: head, endpoint: endpoint, info: info) {
            return eventLoop.makeSucceededFuture(.refused(refusal))
        }
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
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
                return .accepted(AcceptedSocket(endpoint: endpoint, version: version, assigns: assigns,
                                                socketID: endpoint.socket.id(assigns: assigns)))
            case .error:
                logger.info("socket connect refused", metadata: ["path": "\(path)", "peer": "\(info.peerAddress ?? "-")"])
                return .refused(.forbidden)
            }
        }.recover { error in
            logger.error("socket connect failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return .refused(.internalServerError)
        }
    }

    /// The origin check and the per-address connection limit: `nil` to go
    /// on, or the status that refuses the request (logged here, once). A
    /// slot taken here is given back when the connection closes.
    private func checkOriginAndAddress(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, info: ConnectInfo) -> HTTPResponseStatus? {
        let configuration = runtime.configuration
        let peer = channel.remoteAddress
        let origins = head.headers["origin"]
        let allowed = endpoint.checkOrigin.allows(
            originHeaders: origins,
            request: Origin.forRequest(headers: info.headers, trustForwarded: configuration.trustedProxies.contains(peer)),
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
        // A direct client's slot was taken when its connection was accepted
        // (``admitConnection(_:)``); a proxy's clients are told apart only now.
        guard configuration.trustedProxies.contains(peer),
              let address = configuration.trustedProxies.clientAddress(peer: peer, forwardedFor: head.headers["x-forwarded-for"])
        else { return nil }
        return holdSlot(of: channel, for: address) ? nil : .tooManyRequests
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

    private func holdSlot(of channel: any NIOCore.Channel, for address: String) -> Bool {
        guard let limit = runtime.configuration.limits.maxConnectionsPerAddress else { return true }
        guard connectionLimiter.reserve(address, limit: limit) else {
            runtime.connectionErrors.warning(runtime.logger, "socket refused: too many connections from one address", metadata: [
                "address": "\(address)", "limit": "\(limit)",
            ])
            return false
        }
        let limiter = connectionLimiter
        channel.closeFuture.whenComplete { _ in limiter.release(address) }
        return true
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
