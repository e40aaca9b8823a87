import NIOCore
import NIOPosix

/// Sends one raw HTTP request and reads the whole response, for checks of
/// status codes and headers that a WebSocket client would hide.
enum RawHTTP {
    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var received = ByteBuffer()
        let done: EventLoopPromise<ByteBuffer>

        init(done: EventLoopPromise<ByteBuffer>) { self.done = done }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            received.writeBuffer(&chunk)
            // A switched protocol stays open: its response ends with its head.
            let text = String(buffer: received)
            if text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") {
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.succeed(received)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Sends `request` verbatim (it should say `Connection: close`) and
    /// returns the parsed response once the server closes.
    static func send(port: Int, _ request: String) async throws -> Response {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: ByteBuffer.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        // A server that already gave up on the connection (a request timeout
        // under a loaded machine) fails the write; its answer is the close.
        try? await channel.writeAndFlush(ByteBuffer(string: request)).get()
        let timeout = loop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        let bytes = try await done.futureResult.get()
        timeout.cancel()
        return parse(String(buffer: bytes))
    }

    /// A request with `Connection: close` and an optional body.
    static func request(port: Int, method: String = "GET", path: String, headers: [String] = [], body: String? = nil) async throws -> Response {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"] + headers
        if let body { lines.append("Content-Length: \(body.utf8.count)") }
        return try await send(port: port, lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? ""))
    }

    private static func parse(_ text: String) -> Response {
        let parts = text.components(separatedBy: "\r\n\r\n")
        let headLines = (parts.first ?? "").components(separatedBy: "\r\n")
        let statusLine = headLines.first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? -1
        let headers = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return Response(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }
}

import Foundation
