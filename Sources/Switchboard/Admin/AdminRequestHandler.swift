import NIOCore
import NIOHTTP1

/// Serves the admin listener: checks the bearer admin token of every request
/// (401 without it), parses the JSON body and answers through ``AdminAPI``;
/// `GET /metrics` answers Prometheus text (``ServerRuntime/prometheusPage()``).
/// The dashboard page (``AdminDashboardPage``) is the one exception: it holds
/// no data, so it is served without the token, which its script then asks for.
final class AdminRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Largest request body accepted.
    static let maxBodySize = 64 << 10

    private let api: AdminAPI
    private let token: String
    private var head: HTTPRequestHead?
    private var requestBody = RequestBodyCollector(limit: AdminRequestHandler.maxBodySize)

    init(api: AdminAPI, token: String) {
        self.api = api
        self.token = token
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            requestBody.reset()
        case .body(var chunk):
            requestBody.append(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            if AdminDashboardPage.serves(head) {
                serveDashboard(context: context, head: head)
                return
            }
            handle(context: context, head: head)
        }
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard let presented = Self.bearerToken(head.headers), ConstantTime.equals(presented, token) else {
            respond(context: context, head: head, status: .unauthorized, body: AdminAPI.error("missing or wrong admin token"))
            return
        }
        if requestBody.isTooLarge {
            respond(context: context, head: head, status: .payloadTooLarge, body: AdminAPI.error("body too large"), close: true)
            return
        }
        var json: JSONValue?
        if let body = requestBody.body, body.readableBytes > 0 {
            do {
                json = try JSONValue.parse(body, maxDepth: 8)
            } catch {
                respond(context: context, head: head, status: .badRequest, body: AdminAPI.error("body is not JSON: \(error)"))
                return
            }
        }
        let (path, _) = QueryString.split(uri: head.uri)
        if path == "/metrics", head.method == .GET || head.method == .HEAD {
            metrics(context: context, head: head)
            return
        }
        let api = self.api
        let method = head.method
        let route = String(path)
        let request = json
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            await api.handle(method: method, path: route, body: request)
        }.whenSuccess { status, body in
            let (handler, context) = loopBound.value
            handler.respond(context: context, head: head, status: status, body: body)
        }
    }

    /// Prometheus text, or 404 when the server has no renderer.
    private func metrics(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let runtime = api.runtime
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            await runtime.prometheusPage()
        }.whenSuccess { (bytes: [UInt8]?) in
            let (handler, context) = loopBound.value
            guard let bytes else {
                handler.respond(context: context, head: head, status: .notFound, body: AdminAPI.error("not found: the server has no metrics renderer"))
                return
            }
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            handler.respond(context: context, head: head, status: .ok, body: buffer, contentType: ServerRuntime.prometheusContentType)
        }
    }

    /// The token of `Authorization: Bearer <token>`.
    static func bearerToken(_ headers: HTTPHeaders) -> String? {
        guard let authorization = headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer ") else {
            return nil
        }
        return String(authorization.dropFirst("bearer ".count))
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: JSONValue, close: Bool = false) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        body.encode(into: &buffer)
        buffer.writeStaticString("\n")
        respond(context: context, head: head, status: status, body: buffer, contentType: "application/json", close: close)
    }

    private func respond(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body buffer: ByteBuffer,
        contentType: String, close: Bool = false
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: "\(buffer.readableBytes)")
        if status == .unauthorized { headers.add(name: "www-authenticate", value: "Bearer") }
        let keepAlive = head.isKeepAlive && !close
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func serveDashboard(context: ChannelHandlerContext, head: HTTPRequestHead) {
        var buffer = context.channel.allocator.buffer(capacity: AdminDashboardPage.html.utf8.count)
        buffer.writeString(AdminDashboardPage.html)
        var headers = HTTPHeaders(AdminDashboardPage.headers)
        headers.add(name: "content-type", value: AdminDashboardPage.contentType)
        headers.add(name: "content-length", value: "\(buffer.readableBytes)")
        headers.add(name: "connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
