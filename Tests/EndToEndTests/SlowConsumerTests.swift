import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Switchboard
import SwitchboardClient
import SwitchboardTesting
import Testing

/// A client that stops reading must not grow the node's memory without bound.
@Suite("Slow consumers")
struct SlowConsumerTests {
    /// Opens a WebSocket, joins `topic`, then stops reading from the socket.
    private func stalledSubscriber(port: Int, topic: String) async throws -> any NIOCore.Channel {
        let upgraded = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .channelInitializer { channel in
                let upgrader = NIOWebSocketClientUpgrader(requestKey: "dGhlIHNhbXBsZSBub25jZQ==") { channel, _ in
                    upgraded.succeed(())
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/socket/websocket?vsn=2.0.0",
                                              headers: ["Host": "127.0.0.1"])
                return channel.eventLoop.makeCompletedFuture {
                    let sender = RequestSender(request: request)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(sender, promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(sender)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await upgraded.futureResult.get()
        var join = channel.allocator.buffer(capacity: 64)
        join.writeString(#"["1","1","\#(topic)","phx_join",{}]"#)
        let mask: WebSocketMaskingKey = [1, 2, 3, 4]
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: mask, data: join)).get()
        try await Task.sleep(for: .milliseconds(200))
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
        return channel
    }

    private final class RequestSender: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart
        let request: HTTPRequestHead
        init(request: HTTPRequestHead) { self.request = request }
        func channelActive(context: ChannelHandlerContext) {
            context.write(wrapOutboundOut(.head(request)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test func aClientThatStopsReadingIsClosedAndOthersKeepTheirMessages() async throws {
        try await withServer({ configuration in
            configuration.limits.maxOutboundBytes = 1 << 20
            AdminTestSupport.configure(&configuration)
        }) { server in
            let stalled = try await stalledSubscriber(port: server.localPort!, topic: "room:flood")
            let healthy = try await TestServer.client(server)
            let room = healthy.channel("room:flood")
            _ = try await room.join()
            #expect(server.connectionCount == 2)

            // About 16 MB/s: easy for a reading client, fatal for the stalled one
            // once the kernel's socket buffers and the 1 MiB queue are full.
            let chunk = JSONValue.string(String(repeating: "x", count: 16 * 1024))
            let deadline = ContinuousClock.now + .seconds(30)
            var sent = 0
            while server.connectionCount > 1, ContinuousClock.now < deadline, sent < 20_000 {
                try await server.pubsub.broadcast(topic: "room:flood", event: "big", payload: .json(["data": chunk]))
                sent += 1
                if sent % 10 == 0 { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(server.connectionCount == 1, "the stalled connection was closed after \(sent) broadcasts")
            // The healthy client still gets what is published after.
            try await server.pubsub.broadcast(topic: "room:flood", event: "after", payload: .json(["ok": true]))
            #expect(try await room.nextMessage(event: "after", timeout: .seconds(10)).payload == .json(["ok": true]))
            let metrics = try await AdminTestSupport.scrape(server).body
            #expect(PrometheusText.value(of: "switchboard_slow_consumer_closes_total", in: metrics) == 1)
            try? await stalled.close()
            await healthy.disconnect()
        }
    }
}
