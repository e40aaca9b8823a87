import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Serves the plain HTTP requests of the public listener (health,
/// readiness, the broadcast API, metrics, pages), hands the requests to a
/// socket's long-poll path to the ``LongPollResponder``, and upgrades
/// requests to a socket's WebSocket path, on any request of a keep-alive connection: the
/// ``SocketUpgrader`` decides, and an accepted upgrade swaps the HTTP
/// handlers for the WebSocket ones; a refused one is answered with its
/// status and the connection closed.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Largest request body accepted (the broadcast API's JSON).
    static let maxBodySize = 1 << 20

    private let runtime: ServerRuntime
    private let upgrader: SocketUpgrader
    private let longPoll: LongPollResponder
    private var head: HTTPRequestHead?
    private var requestBody = RequestBodyCollector(limit: HTTPRequestHandler.maxBodySize)
    /// Closes a connection that takes longer than `limits.requestTimeout` to
    /// send a complete request (a slow-loris), or idles that long between requests.
    private var requestTimer: Scheduled<Void>?
    /// Set once a complete request to a WebSocket path has arrived: HTTP is
    /// over for this connection, which is upgraded or answered and closed.
    private var upgrading = false
    /// What arrives while upgrading (the bytes past the upgrade request that
    /// the request decoder hands on as it leaves), for the WebSocket handlers.
    private var pendingReads = CircularBuffer<NIOAny>()
    /// The client's address had all its connections when this one was
    /// accepted: its first request is answered 429, and it closes.
    private var overAddressLimit = false
    /// Answered and closing: what else arrives is dropped.
    private var refused = false

    init(runtime: ServerRuntime, upgrader: SocketUpgrader, longPoll: LongPollResponder) {
        self.runtime = runtime
        self.upgrader = upgrader
        self.longPoll = longPoll
    }

    func handlerAdded(context: ChannelHandlerContext) {
        overAddressLimit = !upgrader.admission.admitConnection(context.channel)
        armRequestTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestTimer?.cancel()
        requestTimer = nil
    }

    /// Leaving after an upgrade: what arrived meanwhile goes on to the
    /// WebSocket handlers added behind this one.
    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        // Twice over: a read delivered here may re-enter and buffer more.
        while !pendingReads.isEmpty {
            while let data = pendingReads.popFirst() {
                context.fireChannelRead(data)
            }
            context.fireChannelReadComplete()
        }
        context.leavePipeline(removalToken: removalToken)
    }

    private func armRequestTimer(context: ChannelHandlerContext) {
        requestTimer?.cancel()
        let channel = context.channel
        requestTimer = context.eventLoop.scheduleTask(in: TimeAmount(runtime.configuration.limits.requestTimeout)) {
            channel.close(promise: nil)
        }
    }

    /// Answers the first request of a connection over its address's limit
    /// with 429 and closes; nothing after it is read.
    private func refuseOverAddressLimit(context: ChannelHandlerContext, head: HTTPRequestHead) {
        if upgrader.endpoint(forPath: QueryString.split(uri: head.uri).path) != nil {
            runtime.metrics.socketConnect(Self.connectStatus(.tooManyRequests))
        }
        refused = true
        respond(context: context, head: head, status: .tooManyRequests, body: nil, close: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard !upgrading else {
            pendingReads.append(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard !overAddressLimit else {
                refuseOverAddressLimit(context: context, head: head)
                return
            }
            self.head = head
            requestBody.reset()
        case .body(var chunk):
            requestBody.append(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            let (path, _) = QueryString.split(uri: head.uri)
            if let endpoint = upgrader.endpoint(forPath: path) {
                upgrade(context: context, head: head, endpoint: endpoint)
                return
            }
            if let endpoint = longPoll.endpoint(forPath: path) {
                serveLongPoll(context: context, head: head, endpoint: endpoint)
                return
            }
            armRequestTimer(context: context)
            route(context: context, head: head)
        }
    }

    // MARK: - WebSocket upgrades

    /// Asks the upgrader about a request to `endpoint`'s WebSocket path, then
    /// upgrades, or answers the refusal (400 not a valid upgrade, 403, 429,
    /// 503, 500) and closes.
    private func upgrade(context: ChannelHandlerContext, head: HTTPRequestHead, endpoint: SocketEndpoint) {
        upgrading = true
        // Deciding may take a while (the socket's connect): not a slow request.
        requestTimer?.cancel()
        requestTimer = nil
        upgrader.decide(channel: context.channel, head: head, endpoint: endpoint).assumeIsolated().whenSuccess { decision in
            switch decision {
            case .accept(let accepted, let responseHeaders, let deflate):
                let webSocket = self.upgrader.webSocketUpgrader(accepted: accepted, responseHeaders: responseHeaders, deflate: deflate)
                self.performUpgrade(context: context, head: head, webSocket: webSocket)
            case .refuse(let status):
                self.runtime.metrics.socketConnect(Self.connectStatus(status))
                let headers: HTTPHeaders = status == .upgradeRequired ? ["sec-websocket-version": "13"] : [:]
                self.respond(context: context, head: head, status: status, body: nil, headers: headers, close: true)
            }
        }
    }

    /// Switches the connection to WebSocket as NIO's `HTTPServerUpgradeHandler`
    /// does: the HTTP handlers that read requests leave (reads are held here
    /// meanwhile), the 101 goes out through the response encoder, which
    /// leaves too, the WebSocket handlers are added behind this one, and this
    /// one leaves last, handing on what it held.
    private func performUpgrade(context: ChannelHandlerContext, head: HTTPRequestHead, webSocket: NIOWebSocketServerUpgrader) {
        webSocket.buildUpgradeResponse(channel: context.channel, upgradeRequest: head, initialResponseHeaders: HTTPHeaders())
            .assumeIsolated()
            .flatMap { responseHeaders in
                Self.removeInboundHTTPHandlers(context: context)
                    .assumeIsolated()
                    .flatMap {
                        let response = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: responseHeaders)
                        return context.writeAndFlush(self.wrapOutboundOut(.head(response)))
                    }
                    .flatMap { Self.removeResponseEncoder(context: context) }
                    .flatMap { webSocket.upgrade(context: context, upgradeRequest: head) }
                    .nonisolated()
            }
            .whenComplete { result in
                switch result {
                case .success:
                    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                case .failure(let error):
                    self.runtime.logger.debug("WebSocket upgrade failed", metadata: ["error": "\(error)"])
                    context.close(promise: nil)
                }
            }
    }

    /// Removes the HTTP handlers that read requests; the request decoder
    /// hands on the bytes it holds past the upgrade request as it goes.
    private static func removeInboundHTTPHandlers(context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let pipeline = context.pipeline.syncOperations
        var removals: [EventLoopFuture<Void>] = []
        func remove<Handler: RemovableChannelHandler>(_ type: Handler.Type) {
            if let handler = try? pipeline.handler(type: type) {
                removals.append(pipeline.removeHandler(handler))
            }
        }
        remove(ByteToMessageHandler<HTTPRequestDecoder>.self)
        remove(HTTPServerPipelineHandler.self)
        remove(NIOHTTPResponseHeadersValidator.self)
        remove(HTTPServerProtocolErrorHandler.self)
        return .andAllSucceed(removals, on: context.eventLoop)
    }

    private static func removeResponseEncoder(context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let pipeline = context.pipeline.syncOperations
        guard let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self) else {
            return context.eventLoop.makeSucceededVoidFuture()
        }
        return pipeline.removeHandler(encoder)
    }

    // MARK: - Long-poll

    /// Answers a long-poll request, which may be held for the poll window:
    /// the request timer waits meanwhile, and starts again for the next request.
    private func serveLongPoll(context: ChannelHandlerContext, head: HTTPRequestHead, endpoint: SocketEndpoint) {
        requestTimer?.cancel()
        requestTimer = nil
        longPoll.respond(
            channel: context.channel, head: head, body: requestBody.body, bodyTooLarge: requestBody.isTooLarge, endpoint: endpoint
        ).assumeIsolated().whenSuccess { reply in
            var headers = reply.headers
            // As Phoenix: the transport checks the origin itself, at connect.
            headers.add(name: "access-control-allow-origin", value: "*")
            self.writeResponse(
                context: context, head: head, status: reply.status, contentType: "application/json; charset=utf-8",
                body: reply.body, headers: headers, close: reply.close
            )
            if context.channel.isActive { self.armRequestTimer(context: context) }
        }
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let (path, _) = QueryString.split(uri: head.uri)
        switch (head.method, path) {
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            respond(context: context, head: head, status: .ok, body: healthBody(status: "ok"))
        case (.GET, "/readyz"), (.HEAD, "/readyz"):
            let ready = runtime.isAcceptingSockets
            respond(context: context, head: head, status: ready ? .ok : .serviceUnavailable,
                    body: healthBody(status: ready ? "ready" : runtime.operationalState))
        case (.POST, "/api/broadcast"):
            broadcast(context: context, head: head)
        case (.GET, "/api/presence"):
            presence(context: context, head: head)
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            metrics(context: context, head: head)
        case (.GET, _) where runtime.configuration.pages[String(path)] != nil:
            servePage(context: context, head: head, page: runtime.configuration.pages[String(path)]!)
        case (_, "/healthz"), (_, "/readyz"), (_, "/api/broadcast"), (_, "/api/presence"):
            respond(context: context, head: head, status: .methodNotAllowed, body: errorBody("method not allowed"))
        case (_, "/metrics") where runtime.configuration.metrics.onPublicListener:
            respond(context: context, head: head, status: .methodNotAllowed, body: errorBody("method not allowed"))
        default:
            respond(context: context, head: head, status: .notFound, body: errorBody("not found"))
        }
    }

    private func healthBody(status: String) -> JSONValue {
        return [
            "status": .string(status),
            "node": .string(runtime.pubsub.nodeName),
            "version": .string(runtime.configuration.version),
            "connections": .int(runtime.connectionCount),
            "pubsub": runtime.pubsub.adapterStatus.json,
        ]
    }

    private func errorBody(_ message: String) -> JSONValue {
        ["error": .string(message)]
    }

    /// The `status` label of a refused socket connect.
    static func connectStatus(_ status: HTTPResponseStatus) -> String {
        switch status {
        case .forbidden: "refused"
        case .serviceUnavailable: "unavailable"
        case .tooManyRequests: "limited"
        case .internalServerError: "error"
        default: "invalid"
        }
    }

    // MARK: - GET /metrics

    /// Prometheus text (``ServerRuntime/prometheusPage()``), when
    /// ``MetricsOptions/onPublicListener`` puts it on this listener; the
    /// admin listener serves it otherwise.
    private func metrics(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let runtime = self.runtime
        guard runtime.configuration.metrics.onPublicListener, runtime.configuration.metrics.prometheusText != nil else {
            respond(context: context, head: head, status: .notFound, body: errorBody("not found"))
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            await runtime.prometheusPage() ?? []
        }.whenSuccess { (bytes: [UInt8]) in
            let (handler, context) = loopBound.value
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            handler.writeResponse(context: context, head: head, status: .ok, contentType: ServerRuntime.prometheusContentType,
                                  body: buffer, close: false)
        }
    }

    // MARK: - POST /api/broadcast

    /// Whether the request carries the API key; answers 403 or 401 when it does not.
    private func authorizeAPI(context: ChannelHandlerContext, head: HTTPRequestHead) -> Bool {
        guard let apiKey = runtime.configuration.apiKey else {
            respond(context: context, head: head, status: .forbidden, body: errorBody("the HTTP API is disabled: no api_key configured"))
            return false
        }
        guard let presented = Self.presentedKey(head.headers), ConstantTime.equals(presented, apiKey) else {
            respond(context: context, head: head, status: .unauthorized, body: errorBody("missing or wrong API key"))
            return false
        }
        return true
    }

    private func broadcast(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard authorizeAPI(context: context, head: head) else { return }
        if requestBody.isTooLarge {
            respond(context: context, head: head, status: .payloadTooLarge, body: errorBody("body larger than \(Self.maxBodySize) bytes"), close: true)
            return
        }
        let request: BroadcastRequest
        do {
            request = try BroadcastRequest(body: requestBody.body ?? ByteBuffer(), limits: runtime.configuration.limits.decoding)
        } catch {
            respond(context: context, head: head, status: .badRequest, body: errorBody("\(error)"))
            return
        }
        guard !runtime.pubsub.isReserved(request.topic) else {
            respond(context: context, head: head, status: .forbidden, body: errorBody("\(request.topic) is reserved for the cluster"))
            return
        }
        let pubsub = runtime.pubsub
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            try await pubsub.broadcast(topic: request.topic, event: request.event, payload: request.payload)
        }.whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success:
                handler.respond(context: context, head: head, status: .accepted, body: ["status": "ok"])
            case .failure(let error):
                handler.runtime.logger.warning("broadcast API publish failed", metadata: ["error": "\(error)"])
                handler.respond(context: context, head: head, status: .serviceUnavailable, body: handler.errorBody("\(error)"))
            }
        }
    }

    // MARK: - GET /api/presence

    /// `GET /api/presence?topic=…`: `{"topic": …, "presences": {key: {"metas": […]}}}`,
    /// every node's presences on the topic, as `presence_state` lists them.
    private func presence(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard authorizeAPI(context: context, head: head) else { return }
        guard let topic = QueryString.value(named: "topic", in: QueryString.split(uri: head.uri).query), !topic.isEmpty else {
            respond(context: context, head: head, status: .badRequest, body: errorBody("expected ?topic=<topic>"))
            return
        }
        let presences = Presences(tracker: runtime.presence).list(topic: topic)
        respond(context: context, head: head, status: .ok, body: ["topic": .string(topic), "presences": presences])
    }

    /// The key from `Authorization: Bearer <key>` or `x-api-key: <key>`.
    static func presentedKey(_ headers: HTTPHeaders) -> String? {
        if let authorization = headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer ") {
            return String(authorization.dropFirst("bearer ".count))
        }
        return headers.first(name: "x-api-key")
    }

    // MARK: - Responses

    private func servePage(context: ChannelHandlerContext, head: HTTPRequestHead, page: StaticPage) {
        var buffer = context.channel.allocator.buffer(capacity: page.body.utf8.count)
        buffer.writeString(page.body)
        writeResponse(context: context, head: head, status: .ok, contentType: page.contentType, body: buffer, close: false)
    }

    private func respond(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: JSONValue?,
        headers: HTTPHeaders = [:], close: Bool = false
    ) {
        var buffer = context.channel.allocator.buffer(capacity: 128)
        if let body {
            body.encode(into: &buffer)
            buffer.writeStaticString("\n")
        }
        writeResponse(context: context, head: head, status: status, contentType: body == nil ? nil : "application/json", body: buffer, headers: headers, close: close)
    }

    private func writeResponse(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String?, body buffer: ByteBuffer,
        headers: HTTPHeaders = [:], close: Bool
    ) {
        var headers = headers
        headers.add(name: "content-length", value: "\(buffer.readableBytes)")
        if let contentType { headers.add(name: "content-type", value: contentType) }
        // A request that asked for an upgrade (to a path that has none) ends
        // the decoder's HTTP parsing: the connection cannot serve another.
        let keepAlive = head.isKeepAlive && !close && head.headers["upgrade"].isEmpty
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD, buffer.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("HTTP connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

/// The body of `POST /api/broadcast`: `{"topic": …, "event": …, "payload": {…}}`.
struct BroadcastRequest: Sendable {
    var topic: String
    var event: String
    var payload: Payload

    init(body: ByteBuffer, limits: DecodingLimits) throws(ProtocolError) {
        let json = try JSONValue.parse(body, maxDepth: limits.maxJSONDepth)
        guard let topic = json["topic"]?.stringValue, !topic.isEmpty, topic.utf8.count <= limits.maxTopicLength else {
            throw .invalidShape("\"topic\" must be a non-empty string of at most \(limits.maxTopicLength) bytes")
        }
        guard let event = json["event"]?.stringValue, !event.isEmpty, event.utf8.count <= limits.maxEventLength else {
            throw .invalidShape("\"event\" must be a non-empty string of at most \(limits.maxEventLength) bytes")
        }
        self.topic = topic
        self.event = event
        self.payload = .json(json["payload"] ?? .object([:]))
    }
}
