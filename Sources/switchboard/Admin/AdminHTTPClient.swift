import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Switchboard

/// Sends one request to a node's admin API and returns its status and JSON body.
struct AdminHTTPClient {
    let url: String
    let token: String

    /// The answer to one request.
    struct Response {
        var status: Int
        var json: JSONValue
    }

    func send(method: HTTPMethod, path: String, body: JSONValue? = nil) async throws -> Response {
        guard let parsed = URL(string: url), parsed.scheme == "http", let host = parsed.host, !host.isEmpty else {
            throw AdminCommandError("--url must look like http://127.0.0.1:4100, not \(url)")
        }
        let port = parsed.port ?? 80
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: (HTTPResponseStatus, ByteBuffer).self)
        let channel: any NIOCore.Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(AdminResponseCollector(done: done))
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            let failure = AdminCommandError("cannot reach the admin API at \(url): \(error)")
            done.fail(failure)
            throw failure
        }
        var buffer = channel.allocator.buffer(capacity: 64)
        body?.encode(into: &buffer)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "\(host):\(port)")
        headers.add(name: "authorization", value: "Bearer \(token)")
        headers.add(name: "content-length", value: "\(buffer.readableBytes)")
        headers.add(name: "connection", value: "close")
        if body != nil { headers.add(name: "content-type", value: "application/json") }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if buffer.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        }
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        let timeout = loop.scheduleTask(in: .seconds(30)) {
            done.fail(AdminCommandError("no answer from the admin API at \(url) within 30 s"))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        let (status, bytes) = try await done.futureResult.get()
        let json = (try? JSONValue.parse(bytes, maxDepth: 16)) ?? .object(["error": .string(String(buffer: bytes))])
        return Response(status: Int(status.code), json: json)
    }
}

/// Collects one response and closes the connection.
private final class AdminResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let done: EventLoopPromise<(HTTPResponseStatus, ByteBuffer)>
    private var status: HTTPResponseStatus = .ok
    private var body = ByteBuffer()

    init(done: EventLoopPromise<(HTTPResponseStatus, ByteBuffer)>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            done.succeed((status, body))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(AdminCommandError("the admin API closed the connection without an answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}
