#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Switchboard
import Synchronization
import SwitchboardClient
import Testing
@testable import SwitchboardTesting

/// The client against ``FakePhoenixServer`` over real loopback TCP.
@Suite("Client over loopback")
struct LoopbackTests {
    private func makeClient(
        _ server: FakePhoenixServer,
        _ configure: (inout PhoenixClient.Configuration) -> Void = { _ in }
    ) -> PhoenixClient {
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: server.port)
        configuration.reconnectBackoff = .init(steps: [.milliseconds(10)], then: .milliseconds(50), jitter: 0)
        configuration.rejoinBackoff = .init(steps: [.milliseconds(50)], then: .milliseconds(100), jitter: 0)
        configuration.timeout = .seconds(5)
        configure(&configuration)
        return PhoenixClient(configuration: configuration)
    }

    @Test("connect sends params, vsn, token and Origin; join, push, leave round-trip")
    func joinPushLeave() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) {
            $0.params = ["user": "ann b"]
            $0.authToken = "s3cr3t"
            $0.headers.add(name: "Origin", value: "http://localhost")
        }
        try await client.connect()
        #expect(await client.isConnected)

        let handshake = try #require(server.handshakes.first)
        #expect(handshake.uri == "/socket/websocket?user=ann%20b&vsn=2.0.0")
        #expect(handshake.headers["Sec-WebSocket-Protocol"] == ["phoenix, base64url.bearer.phx.czNjcjN0"])
        #expect(handshake.headers["Origin"] == ["http://localhost"])

        let room = client.channel("room:lobby", params: ["name": "ann"])
        let response = try await room.join()
        #expect(response == ["topic": "room:lobby"])
        #expect(await room.state == .joined)
        let join = try #require(server.received(event: "phx_join").first)
        #expect(join.topic == "room:lobby")
        #expect(join.payload == .json(["name": "ann"]))
        #expect(join.joinRef == join.ref)
        #expect(await room.joinRef == join.joinRef)

        let reply = try await room.push("echo", ["x": 1])
        #expect(reply.status == .ok)
        #expect(reply.response == .json(["x": 1]))
        let push = try #require(server.received(event: "echo").first)
        #expect(reply.ref == push.ref)
        #expect(push.joinRef == join.joinRef)

        await #expect(throws: ClientError.self) {
            _ = try await room.push("noreply", [:], timeout: .milliseconds(100))
        }

        await room.leave()
        #expect(await room.state == .closed)
        #expect(server.received(event: "phx_leave").count == 1)
        await #expect(throws: ClientError.self) {
            _ = try await room.push("echo", [:])
        }

        await client.disconnect()
        let close = try await client.nextClose()
        #expect(close.initiatedLocally)
        #expect(!close.willReconnect)
        try await eventually { server.closeCodesReceived == [1000] }
        await server.stop()
    }

    @Test("a refused upgrade throws the HTTP status and is not retried", arguments: [403, 400, 404])
    func refusedUpgrade(status: Int) async throws {
        let server = try await FakePhoenixServer.start()
        server.update { $0.refuseStatus = .init(statusCode: status) }
        let client = self.makeClient(server)
        do {
            try await client.connect()
            Issue.record("connect succeeded")
        } catch let error as ClientError {
            #expect(error.httpStatus == status)
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.handshakes.count == 1)
        let statistics = await client.statistics
        #expect(statistics.failedAttempts == 1)
        #expect(statistics.opens == 0)
        #expect(!(await client.isConnected))
        await server.stop()
    }

    @Test("connection refused at TCP level throws")
    func tcpRefused() async throws {
        // A port bound but not listening refuses connections, and no other
        // test can take it meanwhile (as it could a port just closed).
        let (fd, port) = try #require(LoopbackPort.bind())
        defer { close(fd) }
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: port)
        configuration.connectTimeout = .seconds(2)
        let client = PhoenixClient(configuration: configuration)
        await #expect(throws: (any Error).self) {
            try await client.connect()
        }
    }

    @Test("a server that accepts TCP but never answers the upgrade fails the connect after the timeout")
    func silentServerTimesOut() async throws {
        // A listener with no handlers: it accepts and never says anything.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: listener.localAddress!.port!)
        // Long enough for the TCP connect itself on a machine busy starting
        // every suite (else it is that connect that times out), well within the 5 s watched.
        configuration.connectTimeout = .seconds(2)
        configuration.reconnect = false
        let client = PhoenixClient(configuration: configuration)
        // The connect runs on its own task and is only watched for 5 s, so a
        // client without the timeout fails this test instead of hanging it.
        let finished = Mutex<Result<Void, any Error>?>(nil)
        Task {
            do {
                try await client.connect()
                finished.withLock { $0 = .success(()) }
            } catch {
                finished.withLock { $0 = .failure(error) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while finished.withLock({ $0 == nil }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let outcome: Result<Void, any Error> = finished.withLock { $0 } ?? .failure(ClientError.timeout)
        guard case .failure(let error) = outcome, let reason = (error as? ClientError)?.handshakeFailure else {
            Issue.record("expected handshakeFailed, got \(outcome)")
            try await listener.close()
            return
        }
        #expect(reason.contains("no upgrade response"))
        try await listener.close()
    }

    @Test("a refused join throws replyError with the response and closes the channel")
    func refusedJoin() async throws {
        let server = try await FakePhoenixServer.start()
        server.update { $0.refusedTopics = ["user:2"] }
        let client = self.makeClient(server)
        try await client.connect()
        let channel = client.channel("user:2")
        do {
            _ = try await channel.join()
            Issue.record("join succeeded")
        } catch let error as ClientError {
            guard let status = error.replyStatus, let response = error.replyResponse else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(status == .error)
            #expect(response == ["reason": "unauthorized"])
        }
        #expect(await channel.state == .closed)
        // A refused first join is not retried.
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.received(event: "phx_join").count == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("join timeout throws and sends phx_leave")
    func joinTimeout() async throws {
        let server = try await FakePhoenixServer.start()
        server.update { $0.ignoreJoins = true }
        let client = self.makeClient(server)
        try await client.connect()
        let channel = client.channel("room:slow")
        await #expect(throws: ClientError.self) {
            _ = try await channel.join(timeout: .milliseconds(100))
        }
        try await eventually { server.received(event: "phx_leave").count == 1 }
        let join = try #require(server.received(event: "phx_join").first)
        #expect(server.received(event: "phx_leave").first?.joinRef == join.joinRef)
        #expect(await channel.state == .closed)
        await client.disconnect()
        await server.stop()
    }

    @Test("server pushes reach on-callbacks, the messages stream and nextMessage")
    func serverPushes() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        let seen = Mutex<[Message]>([])
        room.on("shout") { message in seen.withLock { $0.append(message) } }
        _ = try await room.join()
        let joinRef = await room.joinRef

        let connection = try server.latest
        connection.push(topic: "room:1", event: "shout", payload: ["n": 1])
        connection.push(topic: "room:1", event: "shout", payload: ["n": 2], joinRef: joinRef)
        connection.push(topic: "room:other", event: "shout", payload: ["n": 3])

        let first = try await room.nextMessage(event: "shout")
        #expect(first.payload == .json(["n": 1]))
        #expect(first.joinRef == nil)
        let second = try await room.nextMessage(event: "shout")
        #expect(second.payload == .json(["n": 2]))
        try await eventually { seen.withLock { $0.count } == 2 }

        var iterator = room.messages.makeAsyncIterator()
        #expect(await iterator.next()?.payload == .json(["n": 1]))
        #expect(await iterator.next()?.payload == .json(["n": 2]))
        await #expect(throws: ClientError.self) {
            _ = try await room.nextMessage(event: "shout", timeout: .milliseconds(100))
        }
        await client.disconnect()
        await server.stop()
    }

    @Test("messages and replies with a stale join_ref are dropped")
    func staleJoinRef() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        let joinRef = try #require(await room.joinRef)
        let connection = try server.latest

        connection.push(topic: "room:1", event: "old", joinRef: "999")
        connection.push(topic: "room:1", event: "new", joinRef: joinRef)
        #expect(try await room.nextMessage(event: "new").joinRef == joinRef)
        await #expect(throws: ClientError.self) {
            _ = try await room.nextMessage(event: "old", timeout: .milliseconds(100))
        }

        // A reply to a pending push, but under another join_ref: ignored, so the push times out.
        let pushed = Task { try await room.push("noreply", [:], timeout: .milliseconds(300)) }
        try await eventually { !server.received(event: "noreply").isEmpty }
        let push = try #require(server.received(event: "noreply").first)
        connection.send(.reply(Reply(joinRef: "999", ref: push.ref, topic: "room:1", status: .ok)))
        await #expect(throws: ClientError.self) {
            _ = try await pushed.value
        }
        // The same reply under the right join_ref would have matched.
        async let pushedAgain = room.push("noreply", [:], timeout: .seconds(5))
        try await eventually { server.received(event: "noreply").count == 2 }
        let again = server.received(event: "noreply")[1]
        connection.send(.reply(Reply(joinRef: joinRef, ref: again.ref, topic: "room:1", status: .error, response: .json(["e": 1]))))
        let reply = try await pushedAgain
        #expect(reply.status == .error)
        #expect(reply.response == .json(["e": 1]))
        await client.disconnect()
        await server.stop()
    }

    @Test("close 1012 from the server: reconnect, then rejoin with a new join_ref")
    func reconnectAndRejoin() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        let firstJoinRef = try #require(await room.joinRef)

        try server.latest.close(code: 1012, reason: "restart")
        let close = try await client.nextClose()
        #expect(close.code == 1012)
        #expect(close.reason == "restart")
        #expect(!close.initiatedLocally)
        #expect(close.willReconnect)
        try await client.nextOpen()

        try await eventually { server.received(event: "phx_join").count == 2 }
        try await eventually { await room.state == .joined }
        let rejoin = server.received(event: "phx_join")[1]
        #expect(rejoin.joinRef != firstJoinRef)
        #expect(await room.joinRef == rejoin.joinRef)
        #expect(server.handshakes.count == 2)
        let statistics = await client.statistics
        #expect(statistics.reconnects == 1)
        #expect(statistics.opens == 2)
        #expect(statistics.lastServerCloseCode == 1012)

        // The rejoined channel works.
        let reply = try await room.push("echo", ["after": true])
        #expect(reply.response == .json(["after": true]))
        await client.disconnect()
        await server.stop()
    }

    @Test("a dropped TCP connection (no close frame) also reconnects")
    func droppedConnection() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        try server.latest.drop()
        let close = try await client.nextClose()
        #expect(close.code == nil)
        #expect(close.willReconnect)
        try await client.nextOpen()
        #expect(server.handshakes.count == 2)
        await client.disconnect()
        await server.stop()
    }

    @Test("close 1000 from the server is final")
    func normalCloseIsFinal() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        try server.latest.close(code: 1000)
        let close = try await client.nextClose()
        #expect(close.code == 1000)
        #expect(!close.willReconnect)
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.handshakes.count == 1)
        #expect(!(await client.isConnected))
        await server.stop()
    }

    @Test("reconnect: false never reconnects")
    func reconnectDisabled() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) { $0.reconnect = false }
        try await client.connect()
        try server.latest.close(code: 1012)
        #expect(try await client.nextClose().willReconnect == false)
        try await Task.sleep(for: .milliseconds(150))
        #expect(server.handshakes.count == 1)
        await server.stop()
    }

    @Test("heartbeats go out on topic phoenix; an unanswered one closes and reconnects")
    func heartbeatTimeout() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) { $0.heartbeatInterval = .seconds(1) }
        try await client.connect()
        try await eventually { server.received(event: "heartbeat").count >= 2 }
        let heartbeat = try #require(server.received(event: "heartbeat").first)
        #expect(heartbeat.topic == "phoenix")
        #expect(heartbeat.joinRef == nil)
        #expect(heartbeat.payload == .empty)
        #expect(await client.statistics.heartbeatTimeouts == 0)

        server.update { $0.answerHeartbeats = false }
        let close = try await client.nextClose()
        #expect(close.initiatedLocally)
        #expect(close.willReconnect)
        #expect(server.closeCodesReceived.first == 1000)
        try await client.nextOpen()
        #expect(await client.statistics.heartbeatTimeouts == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("phx_error makes a joined channel rejoin after the rejoin backoff")
    func phxErrorRejoins() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        let joinRef = try #require(await room.joinRef)
        try server.latest.push(topic: "room:1", event: "phx_error", payload: ["reason": "channel_crash"], joinRef: joinRef)
        let error = try await room.nextMessage(event: "phx_error")
        #expect(error.payload == .json(["reason": "channel_crash"]))
        try await eventually { server.received(event: "phx_join").count == 2 }
        try await eventually { await room.state == .joined }
        #expect(await room.joinRef != joinRef)
        #expect(await client.statistics.rejoins == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("phx_close from the server closes the channel without rejoining")
    func phxCloseCloses() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        let joinRef = try #require(await room.joinRef)
        try server.latest.push(topic: "room:1", event: "phx_close", joinRef: joinRef)
        _ = try await room.nextMessage(event: "phx_close")
        #expect(await room.state == .closed)
        try await Task.sleep(for: .milliseconds(150))
        #expect(server.received(event: "phx_join").count == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("binary payloads go out and come back as V2 binary frames")
    func binaryPayloads() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:bin")
        _ = try await room.join()
        let bytes = ByteBuffer(bytes: [0, 1, 2, 255])
        let reply = try await room.push("echo", payload: .binary(bytes))
        #expect(reply.status == .ok)
        #expect(reply.response == .binary(bytes))
        #expect(server.received(event: "echo").first?.payload == .binary(bytes))
        await client.disconnect()
        await server.stop()
    }

    @Test("raw frames are written as given")
    func rawFrames() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        await #expect(throws: ClientError.self) {
            try await client.sendRaw(text: "too early")
        }
        try await client.connect()
        try await client.sendRaw(text: "not json")
        try await client.sendRaw(binary: [9, 9, 9])
        try await eventually { server.undecodableFrames.count == 2 }
        #expect(server.undecodableFrames[0] == Array("not json".utf8))
        #expect(server.undecodableFrames[1] == [9, 9, 9])

        try await client.send(Message(joinRef: "77", ref: "78", topic: "room:x", event: "custom"))
        try await eventually { server.received(event: "custom").count == 1 }
        #expect(server.received(event: "custom").first?.joinRef == "77")
        await client.disconnect()
        await server.stop()
    }

    @Test("disconnect fails awaited pushes and does not reconnect")
    func disconnectFailsPending() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        async let pending = room.push("noreply", [:], timeout: .seconds(10))
        try await eventually { !server.received(event: "noreply").isEmpty }
        await client.disconnect()
        do {
            _ = try await pending
            Issue.record("push succeeded")
        } catch let error as ClientError {
            guard error == .disconnected else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        #expect(await room.state == .errored)
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.handshakes.count == 1)

        // Connecting again rejoins the channel.
        try await client.connect()
        try await eventually { await room.state == .joined }
        #expect(server.received(event: "phx_join").count == 2)
        await client.disconnect()
        await server.stop()
    }

    @Test("push before join throws notJoined; a push while joining waits for the join")
    func pushOrdering() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        let room = client.channel("room:1")
        await #expect(throws: ClientError.self) {
            _ = try await room.push("echo", [:])
        }
        // Join before the socket is open: the join is buffered, the push waits for it.
        async let joined = room.join()
        async let pushed = room.push("echo", ["k": "v"])
        try await client.connect()
        _ = try await joined
        #expect(try await pushed.response == .json(["k": "v"]))
        let events = server.received.map(\.event).filter { $0 != "heartbeat" }
        #expect(events == ["phx_join", "echo"])
        await client.disconnect()
        await server.stop()
    }

    @Test("a second channel on the same topic leaves the first, as phoenix.js")
    func duplicateTopic() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        try await client.connect()
        let first = client.channel("room:dup")
        _ = try await first.join()
        let second = client.channel("room:dup")
        _ = try await second.join()
        try await eventually { await first.state == .closed }
        #expect(await second.state == .joined)
        #expect(server.received(event: "phx_leave").count == 1)
        await client.disconnect()
        await server.stop()
    }

    @Test("the local bind address is used as the source address")
    func localAddress() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) { $0.localAddress = "127.0.0.2" }
        try await client.connect()
        let handshake = try #require(server.handshakes.first)
        #expect(handshake.remoteAddress?.ipAddress == "127.0.0.2")
        await client.disconnect()
        await server.stop()
    }

    @Test("onOpen, onClose and onMessage callbacks run")
    func callbacks() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server)
        let log = Mutex<[String]>([])
        client.onOpen { log.withLock { $0.append("open") } }
        client.onClose { info in log.withLock { $0.append("close \(info.code.map(String.init) ?? "-")") } }
        client.onMessage { frame in
            if case .reply = frame { log.withLock { $0.append("reply") } }
        }
        try await client.connect()
        let room = client.channel("room:1")
        _ = try await room.join()
        try server.latest.close(code: 1001)
        #expect(try await client.nextClose().code == 1001)
        try await client.nextOpen()
        try await eventually { await room.state == .joined }
        await client.disconnect()
        try await eventually { log.withLock { $0.count } >= 6 }
        #expect(log.withLock { $0 } == ["open", "reply", "close 1001", "open", "reply", "close 1000"])
        await server.stop()
    }

    @Test("the V1 serializer works end to end")
    func v1Serializer() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) { $0.vsn = .v1 }
        try await client.connect()
        #expect(server.handshakes.first?.uri == "/socket/websocket?vsn=1.0.0")
        let room = client.channel("room:v1", params: ["a": 1])
        #expect(try await room.join() == ["topic": "room:v1"])
        let reply = try await room.push("echo", ["b": [1, 2]])
        #expect(reply.response == .json(["b": [1, 2]]))
        try server.latest.push(topic: "room:v1", event: "shout", payload: ["c": true])
        #expect(try await room.nextMessage(event: "shout").payload == .json(["c": true]))
        await client.disconnect()
        await server.stop()
    }

    @Test("recordsMessages off: messages is finished, on-callbacks still run")
    func recordingOff() async throws {
        let server = try await FakePhoenixServer.start()
        let client = self.makeClient(server) { $0.recordsMessages = false }
        try await client.connect()
        let room = client.channel("room:1")
        var iterator = room.messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
        let count = Mutex(0)
        room.on("tick") { _ in count.withLock { $0 += 1 } }
        _ = try await room.join()
        let connection = try server.latest
        for index in 0..<100 {
            connection.push(topic: "room:1", event: "tick", payload: ["i": .int(index)])
        }
        try await eventually { count.withLock { $0 } == 100 }
        #expect(await client.statistics.framesReceived >= 101)
        await client.disconnect()
        await server.stop()
    }
}
