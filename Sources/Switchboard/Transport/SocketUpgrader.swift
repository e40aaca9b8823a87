import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

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

/// What became of one connection's upgrade attempt. The WebSocket upgrader
/// and the plain HTTP handler of the same connection share it, so a refused
/// upgrade is answered with the right status (403 refused, 400 bad request).
/// Only touched on the connection's event loop.
final class UpgradeOutcome: @unchecked Sendable {
    var accepted: AcceptedSocket?
    var rejection: HTTPResponseStatus?
    /// The client address holding a per-address connection slot for this
    /// connection; the slot is given back when the connection closes.
    var reservedAddress: String?
    /// Set once a complete upgrade request has arrived: the request timeout
    /// no longer applies (the connection is upgraded or refused and closed).
    var upgradeRequested = false
}

/// Decides WebSocket upgrades (path, method, origin, `vsn`, connections per
/// address, the socket's `connect`) and sets up the WebSocket pipeline of
/// accepted ones.
struct SocketUpgrader: Sendable {
    let endpoints: [SocketEndpoint]
    let runtime: ServerRuntime
    /// WebSocket connections per client address, for `limits.maxConnectionsPerAddress`.
    let connectionLimiter = ConnectionLimiter()

    func makeUpgrader(outcome: UpgradeOutcome) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: runtime.configuration.limits.maxFrameSize,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                self.shouldUpgrade(channel: channel, head: head, outcome: outcome)
            },
            upgradePipelineHandler: { channel, _ in
                self.upgraded(channel: channel, outcome: outcome)
            }
        )
    }

    /// The endpoint serving a request path, if any.
    func endpoint(forPath path: Substring) -> SocketEndpoint? {
        endpoints.first { $0.websocketPath == path }
    }

    private func shouldUpgrade(channel: any NIOCore.Channel, head: HTTPRequestHead, outcome: UpgradeOutcome) -> EventLoopFuture<HTTPHeaders?> {
        let eventLoop = channel.eventLoop
        let (path, query) = QueryString.split(uri: head.uri)
        guard let endpoint = endpoint(forPath: path) else {
            return eventLoop.makeSucceededFuture(nil)
        }
        outcome.upgradeRequested = true
        guard head.method == .GET else {
            outcome.rejection = .badRequest
            return eventLoop.makeSucceededFuture(nil)
        }
        if !runtime.isAcceptingSockets {
            outcome.rejection = .serviceUnavailable
            return eventLoop.makeSucceededFuture(nil)
        }
        let params = QueryString.parse(query)
        let offered = AuthTokenSubprotocol.offered(in: head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init))
        let info = ConnectInfo(
            peerAddress: channel.remoteAddress.map(Self.describe),
            uri: head.uri,
            headers: head.headers.map { (name: $0.name.lowercased(), value: $0.value) },
            authToken: AuthTokenSubprotocol.token(in: offered)
        )
        let logger = runtime.logger
        if let refusal = admit(channel: channel, head: head, endpoint: endpoint, info: info, outcome: outcome) {
            outcome.rejection = refusal
            return eventLoop.makeSucceededFuture(nil)
        }
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
            outcome.rejection = .badRequest
            return eventLoop.makeSucceededFuture(nil)
        }
        let promise = eventLoop.makePromise(of: ConnectResult.self)
        promise.completeWithTask {
            try await endpoint.socket.connect(params: params, info: info)
        }
        return promise.futureResult.map { result -> HTTPHeaders? in
            switch result {
            case .ok(let assigns):
                outcome.accepted = AcceptedSocket(endpoint: endpoint, version: version, assigns: assigns,
                                                  socketID: endpoint.socket.id(assigns: assigns))
                var headers = HTTPHeaders()
                if offered.contains(AuthTokenSubprotocol.phoenix) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: AuthTokenSubprotocol.phoenix)
                }
                return headers
            case .error:
                logger.info("socket connect refused", metadata: ["path": "\(path)", "peer": "\(info.peerAddress ?? "-")"])
                outcome.rejection = .forbidden
                return nil
            }
        }.flatMapErrorThrowing { error in
            logger.error("socket connect failed", metadata: ["path": "\(path)", "error": "\(error)"])
            outcome.rejection = .internalServerError
            return nil
        }
    }

    /// The origin check and the per-address connection limit: `nil` to go
    /// on, or the status that refuses the request (logged here, once).
    private func admit(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, info: ConnectInfo, outcome: UpgradeOutcome) -> HTTPResponseStatus? {
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
        guard let limit = configuration.limits.maxConnectionsPerAddress, outcome.reservedAddress == nil,
              let address = configuration.trustedProxies.clientAddress(peer: peer, forwardedFor: head.headers["x-forwarded-for"])
        else { return nil }
        guard connectionLimiter.reserve(address, limit: limit) else {
            runtime.logger.warning("socket refused: too many connections from one address", metadata: [
                "address": "\(address)", "limit": "\(limit)",
            ])
            return .tooManyRequests
        }
        outcome.reservedAddress = address
        let limiter = connectionLimiter
        channel.closeFuture.whenComplete { _ in limiter.release(address) }
        return nil
    }

    private func upgraded(channel: any NIOCore.Channel, outcome: UpgradeOutcome) -> EventLoopFuture<Void> {
        guard let accepted = outcome.accepted else {
            return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
        }
        let limits = runtime.configuration.limits
        let dispatcher = runtime.dispatcher(for: channel.eventLoop)
        var logger = runtime.logger
        logger[metadataKey: "peer"] = "\(channel.remoteAddress.map(Self.describe) ?? "-")"
        runtime.metrics.socketConnect("ok")
        let connection = SocketConnection(
            channel: channel, accepted: accepted, pubsub: runtime.pubsub,
            dispatcher: dispatcher, limits: limits, logger: logger,
            taskExecutor: runtime.configuration.handlerExecution == .eventLoop ? dispatcher.taskExecutor : nil
        )
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(FramedWriter(connection: connection), position: .first)
            try pipeline.addHandler(IdleStateHandler(readTimeout: TimeAmount(limits.heartbeatTimeout)))
            try pipeline.addHandler(NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0,
                maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: limits.maxFrameSize
            ))
            try pipeline.addHandler(WebSocketConnectionHandler(connection: connection, runtime: runtime))
        }
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
