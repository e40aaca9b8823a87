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

/// What becomes of a request to a socket's WebSocket path.
enum UpgradeDecision: Sendable {
    /// Upgrade, answering 101 with these extra headers (the agreed subprotocol).
    case accept(AcceptedSocket, responseHeaders: HTTPHeaders)
    /// Answer with this status and close: 400 (not a valid WebSocket
    /// upgrade, a bad method or `vsn`), 403 (origin or `connect` refused),
    /// 429 (too many connections from the address), 503 (draining or
    /// guarded), 500 (`connect` threw).
    case refuse(HTTPResponseStatus)
}

/// Decides WebSocket upgrades (upgrade headers, method, origin, `vsn`,
/// connections per address, the socket's `connect`) and sets up the
/// WebSocket pipeline of accepted ones. ``HTTPRequestHandler`` asks it about
/// every request to a WebSocket path, whichever request of the connection
/// that is, and performs the upgrade it accepts.
struct SocketUpgrader: Sendable {
    let endpoints: [SocketEndpoint]
    let runtime: ServerRuntime
    /// WebSocket connections per client address, for `limits.maxConnectionsPerAddress`.
    let connectionLimiter = ConnectionLimiter()

    /// The endpoint serving a request path, if any.
    func endpoint(forPath path: Substring) -> SocketEndpoint? {
        endpoints.first { $0.websocketPath == path }
    }

    /// Whether `head` is a WebSocket upgrade request as RFC 6455 has it
    /// (`Upgrade: websocket`, one `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`),
    /// the checks NIO's upgrader makes before it asks the application.
    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        let protocols = head.headers[canonicalForm: "upgrade"]
        guard protocols.contains(where: { $0.lowercased() == "websocket" }) else { return false }
        return head.headers["sec-websocket-key"].count == 1 && head.headers["sec-websocket-version"] == ["13"]
    }

    /// Decides the upgrade of `head`, a complete request to `endpoint`'s
    /// WebSocket path. Never fails. A connection asks at most once: a
    /// refusal closes it, an acceptance ends its HTTP.
    func decide(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint) -> EventLoopFuture<UpgradeDecision> {
        let eventLoop = channel.eventLoop
        guard Self.isWebSocketUpgrade(head), head.method == .GET else {
            return eventLoop.makeSucceededFuture(.refuse(.badRequest))
        }
        if !runtime.isAcceptingSockets {
            return eventLoop.makeSucceededFuture(.refuse(.serviceUnavailable))
        }
        let (path, query) = QueryString.split(uri: head.uri)
        let params = QueryString.parse(query)
        let offered = AuthTokenSubprotocol.offered(in: head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init))
        let info = ConnectInfo(
            peerAddress: channel.remoteAddress.map(Self.describe),
            uri: head.uri,
            headers: head.headers.map { (name: $0.name.lowercased(), value: $0.value) },
            authToken: AuthTokenSubprotocol.token(in: offered)
        )
        let logger = runtime.logger
        if let refusal = admit(channel: channel, head: head, endpoint: endpoint, info: info) {
            return eventLoop.makeSucceededFuture(.refuse(refusal))
        }
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
            return eventLoop.makeSucceededFuture(.refuse(.badRequest))
        }
        let promise = eventLoop.makePromise(of: ConnectResult.self)
        promise.completeWithTask {
            try await endpoint.socket.connect(params: params, info: info)
        }
        return promise.futureResult.map { result -> UpgradeDecision in
            switch result {
            case .ok(let assigns):
                let accepted = AcceptedSocket(endpoint: endpoint, version: version, assigns: assigns,
                                              socketID: endpoint.socket.id(assigns: assigns))
                var headers = HTTPHeaders()
                if offered.contains(AuthTokenSubprotocol.phoenix) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: AuthTokenSubprotocol.phoenix)
                }
                return .accept(accepted, responseHeaders: headers)
            case .error:
                logger.info("socket connect refused", metadata: ["path": "\(path)", "peer": "\(info.peerAddress ?? "-")"])
                return .refuse(.forbidden)
            }
        }.recover { error in
            logger.error("socket connect failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return .refuse(.internalServerError)
        }
    }

    /// The origin check and the per-address connection limit: `nil` to go
    /// on, or the status that refuses the request (logged here, once). A
    /// slot taken here is given back when the connection closes.
    private func admit(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, info: ConnectInfo) -> HTTPResponseStatus? {
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
        guard let limit = configuration.limits.maxConnectionsPerAddress,
              let address = configuration.trustedProxies.clientAddress(peer: peer, forwardedFor: head.headers["x-forwarded-for"])
        else { return nil }
        guard connectionLimiter.reserve(address, limit: limit) else {
            runtime.logger.warning("socket refused: too many connections from one address", metadata: [
                "address": "\(address)", "limit": "\(limit)",
            ])
            return .tooManyRequests
        }
        let limiter = connectionLimiter
        channel.closeFuture.whenComplete { _ in limiter.release(address) }
        return nil
    }

    /// The WebSocket upgrader that performs the accepted upgrade: it checks
    /// the key, answers 101 with `responseHeaders`, adds the frame codec and
    /// then the connection's handlers (``upgraded(channel:accepted:)``).
    func webSocketUpgrader(accepted: AcceptedSocket, responseHeaders: HTTPHeaders) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: runtime.configuration.limits.maxFrameSize,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(responseHeaders) },
            upgradePipelineHandler: { channel, _ in self.upgraded(channel: channel, accepted: accepted) }
        )
    }

    private func upgraded(channel: any NIOCore.Channel, accepted: AcceptedSocket) -> EventLoopFuture<Void> {
        let limits = runtime.configuration.limits
        let dispatcher = runtime.dispatcher(for: channel.eventLoop)
        var logger = runtime.logger
        logger[metadataKey: "peer"] = "\(channel.remoteAddress.map(Self.describe) ?? "-")"
        runtime.metrics.socketConnect("ok")
        let transport = WebSocketTransport()
        let connection = SocketConnection(
            transport: transport, eventLoop: channel.eventLoop, accepted: accepted, pubsub: runtime.pubsub,
            dispatcher: dispatcher, limits: limits, logger: logger, allocator: channel.allocator,
            taskExecutor: runtime.configuration.handlerExecution == .eventLoop ? dispatcher.taskExecutor : nil
        )
        transport.connection = connection
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(transport, position: .first)
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
