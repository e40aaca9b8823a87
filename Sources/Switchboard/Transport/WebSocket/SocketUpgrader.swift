import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What becomes of a request to a socket's WebSocket path.
enum UpgradeDecision: Sendable {
    /// Upgrade, answering 101 with these extra headers (the agreed
    /// subprotocol and extension), with permessage-deflate if agreed.
    case accept(AcceptedSocket, responseHeaders: HTTPHeaders, deflate: PerMessageDeflate?)
    /// Answer with this status and close: 400 (not a valid WebSocket
    /// upgrade, a bad method or `vsn`), 426 (a WebSocket version other than
    /// 13; the answer names 13 in `Sec-WebSocket-Version`), 403 (origin or `connect` refused),
    /// 429 (too many connections from the address), 503 (draining or
    /// guarded), 500 (`connect` threw).
    case refuse(HTTPResponseStatus)
}

/// Decides WebSocket upgrades (upgrade headers and method here; origin,
/// `vsn`, connections per address and the socket's `connect` through
/// ``SocketAdmission``) and sets up the WebSocket pipeline of accepted ones.
/// ``HTTPRequestHandler`` asks it about every request to a WebSocket path,
/// whichever request of the connection that is, and performs the upgrade it
/// accepts.
struct SocketUpgrader: Sendable {
    let endpoints: [SocketEndpoint]
    let runtime: ServerRuntime
    let admission: SocketAdmission

    init(endpoints: [SocketEndpoint], runtime: ServerRuntime, admission: SocketAdmission) {
        self.endpoints = endpoints
        self.runtime = runtime
        self.admission = admission
    }

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
    /// WebSocket path: the WebSocket checks here, then the ones every
    /// transport makes (``SocketAdmission``). Never fails. A connection asks
    /// at most once: a refusal closes it, an acceptance ends its HTTP.
    func decide(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint) -> EventLoopFuture<UpgradeDecision> {
        guard Self.isWebSocketUpgrade(head), head.method == .GET else {
            // RFC 6455 §4.4: a version we do not speak is answered 426 with the one we do.
            let otherVersion = !head.headers["sec-websocket-version"].isEmpty && head.headers["sec-websocket-version"] != ["13"]
            return channel.eventLoop.makeSucceededFuture(.refuse(otherVersion ? .upgradeRequired : .badRequest))
        }
        let offered = AuthTokenSubprotocol.offered(in: head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init))
        return admission.admit(channel: channel, head: head, endpoint: endpoint, authToken: AuthTokenSubprotocol.token(in: offered))
            .map { result in
                switch result {
                case .accepted(let accepted):
                    var headers = HTTPHeaders()
                    if offered.contains(AuthTokenSubprotocol.phoenix) {
                        headers.add(name: "Sec-WebSocket-Protocol", value: AuthTokenSubprotocol.phoenix)
                    }
                    let deflate = endpoint.compress
                        ? PerMessageDeflate.negotiate(offers: head.headers[canonicalForm: "sec-websocket-extensions"].map(String.init))
                        : nil
                    if let deflate {
                        headers.add(name: "Sec-WebSocket-Extensions", value: deflate.responseHeader)
                    }
                    return .accept(accepted, responseHeaders: headers, deflate: deflate)
                case .refused(let status):
                    return .refuse(status)
                }
            }
    }

    /// The WebSocket upgrader that performs the accepted upgrade: it checks
    /// the key, answers 101 with `responseHeaders`, adds the frame codec and
    /// then the connection's handlers (``upgraded(channel:accepted:deflate:)``).
    func webSocketUpgrader(accepted: AcceptedSocket, responseHeaders: HTTPHeaders, deflate: PerMessageDeflate?) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: runtime.configuration.limits.maxFrameSize,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(responseHeaders) },
            upgradePipelineHandler: { channel, _ in self.upgraded(channel: channel, accepted: accepted, deflate: deflate) }
        )
    }

    private func upgraded(channel: any NIOCore.Channel, accepted: AcceptedSocket, deflate: PerMessageDeflate?) -> EventLoopFuture<Void> {
        let limits = runtime.configuration.limits
        runtime.metrics.socketConnect("ok")
        let transport = WebSocketTransport(
            maxOutboundBytes: limits.maxOutboundBytes,
            framing: deflate.map { MessageFraming.webSocketDeflate(windowBits: $0.serverWindowBits) } ?? .webSocket
        )
        let connection = runtime.makeConnection(
            transport: transport, on: channel.eventLoop, accepted: accepted,
            metadata: ["peer": "\(channel.remoteAddress.map(SocketAdmission.describe) ?? "-")"]
        )
        transport.connection = connection
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(transport, position: .first)
            try pipeline.addHandler(IdleStateHandler(readTimeout: TimeAmount(limits.heartbeatTimeout)))
            try pipeline.addHandler(WebSocketFrameValidator(
                transport: transport, connection: connection, log: runtime.connectionErrors, compression: deflate != nil
            ))
            if let deflate {
                try pipeline.addHandler(WebSocketInflater(
                    agreement: deflate, maxMessageSize: limits.maxFrameSize, connection: connection
                ))
            }
            try pipeline.addHandler(NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0,
                maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: limits.maxFrameSize
            ))
            if accepted.endpoint.echoesFrames {
                try pipeline.addHandler(WebSocketEchoHandler(connection: connection, transport: transport))
            } else {
                try pipeline.addHandler(WebSocketConnectionHandler(connection: connection, transport: transport, runtime: runtime))
            }
        }
    }
}
