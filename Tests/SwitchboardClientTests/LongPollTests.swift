import Foundation
import NIOCore
import SwitchboardClient
import SwitchboardProtocol
import Synchronization
import Testing

/// The client's long-poll transport against ``FakeLongPollServer`` over
/// loopback, and the WebSocket-to-long-poll fallback.
@Suite("Client over long-poll")
struct LongPollTests {
    private func makeClient(
        port: Int,
        _ configure: (inout PhoenixClient.Configuration) -> Void = { _ in }
    ) -> PhoenixClient {
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: port)
        configuration.transport = .longPoll
        configuration.reconnectBackoff = .init(steps: [.milliseconds(10)], then: .milliseconds(50), jitter: 0)
        configuration.rejoinBackoff = .init(steps: [.milliseconds(50)], then: .milliseconds(100), jitter: 0)
        configuration.timeout = .seconds(5)
        configure(&configuration)
        return PhoenixClient(configuration: configuration)
    }

    @Test("a session opens, joins, pushes and receives, and sends no heartbeats")
    func joinPushReceive() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port) {
            $0.params = ["user": "ann b"]
            $0.authToken = "s3cr3t"
            $0.heartbeatInterval = .milliseconds(50)
        }
        try await client.connect()
        #expect(await client.isConnected)
        #expect(await client.transport == .longPoll)
        let first = try #require(server.polls.first)
        #expect(first.uri == "/socket/longpoll?user=ann%20b&vsn=2.0.0")
        #expect(first.headers["X-Phoenix-AuthToken"] == ["s3cr3t"])
        // Open means polling again at once, with the session's token.
        try await eventually { server.isHoldingPoll(token: "s1") }
        #expect(server.polls.dropFirst().allSatisfy { $0.token == "s1" })

        let room = client.channel("room:lobby")
        #expect(try await room.join() == ["topic": "room:lobby"])
        let reply = try await room.push("echo", ["x": 1])
        #expect(reply.status == .ok)
        #expect(reply.response == .json(["x": 1]))
        let echo = try #require(server.received(event: "echo").first)
        let joinRef = try #require(echo.joinRef)
        let ref = try #require(echo.ref)
        #expect(server.postedLines.contains([#"["\#(joinRef)","\#(ref)","room:lobby","echo",{"x":1}]"#]))
        #expect(!server.posts.isEmpty)
        #expect(server.posts.allSatisfy { $0.headers["Content-Type"] == ["application/x-ndjson"] && $0.token == "s1" })

        server.send(.message(Message(topic: "room:lobby", event: "shout", payload: .json(["a": 1]))), token: "s1")
        let shout = try await room.nextMessage(event: "shout")
        #expect(shout.payload == .json(["a": 1]))

        try await Task.sleep(for: .milliseconds(200))
        #expect(server.received(event: "heartbeat").isEmpty)
        #expect(server.sessionsCreated == 1)

        await client.disconnect()
        let close = try await client.nextClose()
        #expect(close.code == 1000)
        #expect(close.initiatedLocally)
        #expect(!close.willReconnect)
        #expect(!(await client.isConnected))
        await server.stop()
    }

    @Test("pushes of one tick go in one POST of at most 100 lines; pushes during a POST wait for its answer")
    func batching() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        try await client.connect()
        let room = client.channel("room:batch")
        _ = try await room.join()
        let before = server.postedLines.count
        client.eventLoop.execute {
            for index in 0..<250 {
                room.push("noreply", payload: .json(["i": .int(index)]), onReply: { _ in })
            }
        }
        try await eventually { server.received(event: "noreply").count == 250 }
        #expect(server.postedLines.dropFirst(before).map(\.count) == [100, 100, 50])
        #expect(server.received(event: "noreply").map(\.payload) == (0..<250).map { .json(["i": .int($0)]) })

        server.update { $0.holdPosts = true }
        room.push("noreply", payload: .json(["held": 0]), onReply: { _ in })
        try await eventually { server.postedLines.count == before + 4 }
        room.push("noreply", payload: .json(["held": 1]), onReply: { _ in })
        room.push("noreply", payload: .json(["held": 2]), onReply: { _ in })
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.postedLines.count == before + 4)
        server.update { $0.holdPosts = false }
        server.releasePosts()
        try await eventually { server.postedLines.count == before + 5 }
        #expect(server.postedLines.last?.count == 2)
        #expect(server.received(event: "noreply").suffix(2).map(\.payload) == [.json(["held": 1]), .json(["held": 2])])
        await client.disconnect()
        await server.stop()
    }

    @Test("a binary push goes as one standard base64 line")
    func binaryLine() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        try await client.connect()
        let room = client.channel("room:bin")
        _ = try await room.join()
        // A newline byte inside the frame must not split the line.
        let bytes: [UInt8] = [0, 1, 2, 0x0A, 0xFB, 0xFF]
        let reply = try await room.push("upload", payload: .binary(ByteBuffer(bytes: bytes)))
        #expect(reply.status == .ok)
        let upload = try #require(server.received(event: "upload").first)
        #expect(upload.payload == .binary(ByteBuffer(bytes: bytes)))
        var frame = ByteBuffer()
        _ = try V2Serializer().encodeClientMessage(upload, into: &frame)
        let line = Data(frame.readableBytesView).base64EncodedString()
        #expect(server.postedLines.contains([line]))
        await client.disconnect()
        await server.stop()
    }

    @Test("410 for a session the client had: close 3410, reconnect and rejoin")
    func sessionGone() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        try await client.connect()
        let room = client.channel("room:gone")
        _ = try await room.join()
        try await eventually { server.isHoldingPoll(token: "s1") }
        server.killSession(token: "s1")
        let close = try await client.nextClose()
        #expect(close.code == 3410)
        #expect(close.reason == "session_gone")
        #expect(!close.initiatedLocally)
        #expect(close.willReconnect)
        try await eventually { server.received(topic: "room:gone", event: "phx_join").count == 2 }
        try await eventually { await room.state == .joined }
        let statistics = await client.statistics
        #expect(statistics.reconnects == 1)
        #expect(statistics.lastServerCloseCode == 3410)
        // s2 answered the poll with the dead token; s3 is the new session.
        #expect(server.sessionsCreated == 3)
        await client.disconnect()
        await server.stop()
    }

    @Test("403 on the session-creating poll fails the connect, which is not retried")
    func forbiddenConnect() async throws {
        let server = try await FakeLongPollServer.start()
        server.update { $0.refuseConnect = true }
        let client = self.makeClient(port: server.port)
        do {
            try await client.connect()
            Issue.record("connect succeeded")
        } catch let error as ClientError {
            #expect(error.longPollStatus == 403)
        }
        try await Task.sleep(for: .milliseconds(150))
        #expect(server.polls.count == 1)
        let statistics = await client.statistics
        #expect(statistics.failedAttempts == 1)
        #expect(statistics.opens == 0)
        #expect(!(await client.isConnected))
        await server.stop()
    }

    @Test("403 on an open session closes with 1008 and, as phoenix.js's Socket does for any code but 1000, reconnects")
    func forbiddenOpenSession() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        try await client.connect()
        let room = client.channel("room:403")
        _ = try await room.join()
        try await eventually { server.isHoldingPoll(token: "s1") }
        server.update { $0.refuseConnect = true }
        server.killSession(token: "s1")
        let close = try await client.nextClose()
        #expect(close.code == 1008)
        #expect(close.reason == "forbidden")
        #expect(close.willReconnect)
        // Reconnect attempts are refused while the server refuses connects …
        try await eventually { await client.statistics.failedAttempts >= 1 }
        #expect(!(await client.isConnected))
        // … and succeed, with a rejoin, once it accepts them again.
        server.update { $0.refuseConnect = false }
        try await eventually { await client.isConnected }
        try await eventually { await room.state == .joined }
        await client.disconnect()
        await server.stop()
    }

    @Test("an unusable poll answer closes with 1011 and reconnects", arguments: [
        ("not json", "long_poll_failed"),
        (#"{"status":302,"token":"s1"}"#, "long_poll_status"),
        (#"{"status":500}"#, "long_poll_status"),
        (#"{"status":200,"token":"s1"}"#, "long_poll_failed"),
    ])
    func badPollAnswer(body: String, errorName: String) async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        let errors = Mutex<[String]>([])
        client.onError { error in errors.withLock { $0.append((error as? ClientError)?.name ?? "\(error)") } }
        try await client.connect()
        try await eventually { server.isHoldingPoll(token: "s1") }
        server.answerHeldPoll(token: "s1", body: body)
        let close = try await client.nextClose()
        #expect(close.code == 1011)
        #expect(close.willReconnect)
        #expect(errors.withLock { $0 } == [errorName])
        try await eventually { server.sessionsCreated == 2 }
        try await eventually { await client.isConnected }
        await client.disconnect()
        await server.stop()
    }

    @Test("a POST answered with another status than 200 closes with 1011 and reconnects")
    func failedPost() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port)
        try await client.connect()
        server.update { $0.postStatus = 410 }
        // The join's POST gets the bad answer.
        _ = try? await client.channel("room:post").join(timeout: .milliseconds(500))
        let close = try await client.nextClose()
        #expect(close.code == 1011)
        #expect(close.willReconnect)
        await client.disconnect()
        await server.stop()
    }

    @Test("a poll with no answer within longPollTimeout closes with 1005 and reconnects")
    func pollTimeout() async throws {
        let server = try await FakeLongPollServer.start()
        // Long enough for the first request on a machine busy starting every suite at once.
        let client = self.makeClient(port: server.port) { $0.longPollTimeout = .seconds(2) }
        try await client.connect()
        let close = try await client.nextClose(timeout: .seconds(5))
        #expect(close.code == 1005)
        #expect(close.reason == "timeout")
        #expect(close.willReconnect)
        try await eventually { server.sessionsCreated == 2 }
        await client.disconnect()
        await server.stop()
    }

    // MARK: - Fallback

    @Test("a refused WebSocket upgrade falls back to long-poll at once, within the fallback time")
    func fallbackAfterRefusedUpgrade() async throws {
        let server = try await FakeLongPollServer.start()
        let client = self.makeClient(port: server.port) {
            $0.transport = .webSocket
            $0.longPollFallback = .seconds(5)
        }
        #expect(await client.transport == .webSocket)
        let clock = ContinuousClock()
        let start = clock.now
        try await client.connect()
        #expect(clock.now - start < .seconds(4))
        #expect(await client.transport == .longPoll)
        #expect(server.webSocketRequests.count == 1)
        #expect(server.polls.first?.uri == "/socket/longpoll?vsn=2.0.0")
        let statistics = await client.statistics
        #expect(statistics.transport == .longPoll)
        #expect(statistics.longPollFallbacks == 1)
        #expect(statistics.failedAttempts == 1)
        let room = client.channel("room:fallback")
        #expect(try await room.join() == ["topic": "room:fallback"])
        await client.disconnect()
        await server.stop()
    }

    @Test("a WebSocket that never answers falls back to long-poll after the fallback time")
    func fallbackAfterSilence() async throws {
        let server = try await FakeLongPollServer.start()
        server.update { $0.webSocketStatus = nil }
        let client = self.makeClient(port: server.port) {
            $0.transport = .webSocket
            $0.longPollFallback = .milliseconds(300)
        }
        let clock = ContinuousClock()
        let start = clock.now
        try await client.connect()
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(300))
        #expect(elapsed < .seconds(5))
        #expect(await client.transport == .longPoll)
        // The upgrade request was sent; a busy machine may read it after the fallback.
        let deadline = clock.now + .seconds(2)
        while server.webSocketRequests.isEmpty && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(server.webSocketRequests.count == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("a WebSocket that opens and answers the ping stays")
    func noFallbackWhenHealthy() async throws {
        let server = try await FakePhoenixServer.start()
        // Thresholds leave room for a loaded machine: the WebSocket must open,
        // then answer the ping, each within it.
        let client = self.makeClient(port: server.port) {
            $0.transport = .webSocket
            $0.longPollFallback = .seconds(3)
        }
        try await client.connect()
        try await Task.sleep(for: .milliseconds(3200))
        #expect(await client.transport == .webSocket)
        #expect(await client.isConnected)
        #expect(await client.statistics.longPollFallbacks == 0)
        // The ping phoenix.js sends to check the WebSocket.
        #expect(server.received(topic: "phoenix", event: "heartbeat").count == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("a WebSocket that opens but does not answer the ping is replaced by long-poll")
    func fallbackAfterUnansweredPing() async throws {
        let server = try await FakePhoenixServer.start()
        server.update { $0.answerHeartbeats = false }
        // Long enough for the WebSocket to open on a machine busy starting every suite at once.
        let client = self.makeClient(port: server.port) {
            $0.transport = .webSocket
            $0.longPollFallback = .seconds(3)
        }
        try await client.connect()
        #expect(await client.transport == .webSocket)
        let close = try await client.nextClose()
        #expect(close.initiatedLocally)
        #expect(close.willReconnect)
        #expect(await client.transport == .longPoll)
        #expect(await client.statistics.longPollFallbacks == 1)
        try await eventually { server.closeCodesReceived == [1000] }
        await client.disconnect()
        await server.stop()
    }
}
