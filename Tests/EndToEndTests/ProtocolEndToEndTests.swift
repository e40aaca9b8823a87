import NIOCore
import Switchboard
import SwitchboardClient
import Testing

/// The Phoenix protocol over real loopback connections, client to server.
@Suite("Protocol end to end")
struct ProtocolEndToEndTests {
    @Test func twoClientsSeeEachOthersShouts() async throws {
        try await withServer { server in
            let alice = try await TestServer.client(server, params: ["user_id": "1"])
            let bob = try await TestServer.client(server, params: ["user_id": "2"])
            let aliceRoom = alice.channel("room:lobby")
            let bobRoom = bob.channel("room:lobby")
            _ = try await aliceRoom.join()
            _ = try await bobRoom.join()

            let reply = try await aliceRoom.push("shout", ["text": "hi bob"])
            #expect(reply.status == .ok)
            let atBob = try await bobRoom.nextMessage(event: "shout")
            #expect(atBob.payload == .json(["text": "hi bob"]))
            #expect(atBob.joinRef == nil && atBob.ref == nil)
            let atAlice = try await aliceRoom.nextMessage(event: "shout")
            #expect(atAlice.payload == .json(["text": "hi bob"]))

            _ = try await bobRoom.push("shout", ["text": "hi alice"])
            #expect(try await aliceRoom.nextMessage(event: "shout").payload == .json(["text": "hi alice"]))
            await alice.disconnect()
            await bob.disconnect()
        }
    }

    @Test func pingEchoesItsPayload() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let room = client.channel("room:echo")
            _ = try await room.join()
            let reply = try await room.push("ping", ["x": 1, "nested": ["a": [true, .null]]])
            #expect(reply.status == .ok)
            #expect(reply.response == .json(["x": 1, "nested": ["a": [true, .null]]]))
            #expect(reply.topic == "room:echo")
            let joinRef = await room.joinRef
            #expect(reply.joinRef == joinRef)
            await client.disconnect()
        }
    }

    @Test func userChannelAuthorizesAgainstTheSocketsUser() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server, params: ["user_id": "1"])
            _ = try await client.channel("user:1").join()
            await #expect {
                try await client.channel("user:2").join()
            } throws: { error in
                guard let error = error as? ClientError, let status = error.replyStatus, let response = error.replyResponse else { return false }
                return status == .error && response == ["reason": "unauthorized"]
            }
            await client.disconnect()
        }
    }

    @Test func unmatchedTopicForJoinAndForUnjoinedPush() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            await #expect {
                try await client.channel("nope:1").join()
            } throws: { error in
                guard let response = (error as? ClientError)?.replyResponse else { return false }
                return response == ["reason": "unmatched topic"]
            }
            // A push to a topic this socket never joined.
            let replies = AsyncStream<Reply>.makeStream()
            client.onMessage { frame in
                if case .reply(let reply) = frame, reply.topic == "room:unjoined" { replies.continuation.yield(reply) }
            }
            try await client.sendRaw(text: #"[null,"7","room:unjoined","shout",{}]"#)
            var iterator = replies.stream.makeAsyncIterator()
            let received = await iterator.next()
            let reply = try #require(received)
            #expect(reply.ref == "7")
            #expect(reply.joinRef == nil)
            #expect(reply.status == .error)
            #expect(reply.response == .json(["reason": "unmatched topic"]))
            await client.disconnect()
        }
    }

    @Test func leaveRepliesOkThenCloses() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let frames = FrameRecorder(client)
            let room = client.channel("room:leave")
            _ = try await room.join()
            let joinRef = try #require(await room.joinRef)
            await room.leave()
            let reply = try await frames.next { if case .reply(let r) = $0, r.topic == "room:leave", r.ref != joinRef { return true }; return false }
            guard case .reply(let leaveReply) = reply else { Issue.record("expected a reply"); return }
            #expect(leaveReply.status == .ok)
            #expect(leaveReply.joinRef == joinRef)
            let close = try await frames.next { if case .message(let m) = $0, m.event == "phx_close" { return true }; return false }
            #expect(close == .message(Message(joinRef: joinRef, ref: joinRef, topic: "room:leave", event: "phx_close", payload: .empty)))
            // After leaving, the topic is no longer joined.
            try await client.sendRaw(text: #"["\#(joinRef)","99","room:leave","ping",{}]"#)
            let unmatched = try await frames.next { if case .reply(let r) = $0, r.ref == "99" { return true }; return false }
            guard case .reply(let unmatchedReply) = unmatched else { return }
            #expect(unmatchedReply.response == .json(["reason": "unmatched topic"]))
            await client.disconnect()
        }
    }

    @Test func aThrowingHandlerErrorsOnlyItsTopic() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let frames = FrameRecorder(client)
            let crash = client.channel("crash:1")
            let room = client.channel("room:safe")
            _ = try await crash.join()
            _ = try await room.join()
            let crashJoinRef = try #require(await crash.joinRef)
            await #expect(throws: ClientError.self) {
                try await crash.push("boom", [:], timeout: .seconds(2))
            }
            let error = try await frames.next { if case .message(let m) = $0, m.event == "phx_error" { return true }; return false }
            #expect(error == .message(Message(joinRef: crashJoinRef, ref: crashJoinRef, topic: "crash:1", event: "phx_error", payload: .empty)))
            // The socket and its other channel go on.
            #expect(try await room.push("ping", ["still": "alive"]).response == .json(["still": "alive"]))
            let connected = await client.isConnected
            #expect(connected)
            await client.disconnect()
        }
    }

    @Test func aCrashInJoinIsAnErrorReply() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            await #expect {
                try await client.channel("crash:2", params: ["crash_on_join": true]).join()
            } throws: { error in
                guard let response = (error as? ClientError)?.replyResponse else { return false }
                return response == ["reason": "join crashed"]
            }
            await client.disconnect()
        }
    }

    @Test func heartbeatIsAnswered() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let frames = FrameRecorder(client)
            try await client.sendRaw(text: #"[null,"5","phoenix","heartbeat",{}]"#)
            let reply = try await frames.next { if case .reply(let r) = $0, r.ref == "5" { return true }; return false }
            #expect(reply == .reply(Reply(joinRef: nil, ref: "5", topic: "phoenix", status: .ok, response: .empty)))
            await client.disconnect()
        }
    }

    @Test func silenceBeyondTheHeartbeatTimeoutCloses() async throws {
        // Wide margins: a loaded machine can hold a heartbeat (or its reply,
        // which the client waits for before the next one) for a few hundred ms.
        try await withServer({ $0.limits.heartbeatTimeout = .milliseconds(1500) }) { server in
            let silent = try await TestServer.client(server) { $0.reconnect = false }
            let chatty = try await TestServer.client(server) {
                $0.reconnect = false
                $0.heartbeatInterval = .milliseconds(300)
            }
            let close = try await silent.nextClose(timeout: .seconds(5))
            #expect(close.code == 4000)
            #expect(!close.initiatedLocally)
            let chattyConnected = await chatty.isConnected
            #expect(chattyConnected, "a client that sends heartbeats stays connected")
            await chatty.disconnect()
        }
    }

    @Test func aMalformedFrameClosesOnlyItsConnection() async throws {
        try await withServer { server in
            let bad = try await TestServer.client(server) { $0.reconnect = false }
            let good = try await TestServer.client(server)
            let room = good.channel("room:ok")
            _ = try await room.join()
            for garbage in [#"{"not":"an array"}"#] {
                try await bad.sendRaw(text: garbage)
            }
            let close = try await bad.nextClose()
            #expect(close.code == 1002)
            #expect(try await room.push("ping", ["n": 1]).status == .ok)

            for garbage in ["not json", #"["1","2","room:x"]"#, #"[1,"2","room:x","e",{}]"#, #"[null,null,"","e",{}]"#] {
                let client = try await TestServer.client(server) { $0.reconnect = false }
                try await client.sendRaw(text: garbage)
                #expect(try await client.nextClose().code == 1002, "\(garbage)")
            }
            #expect(try await room.push("ping", ["n": 2]).status == .ok)
            await good.disconnect()
        }
    }

    @Test func anOversizedFrameClosesWith1009() async throws {
        try await withServer({ $0.limits.maxFrameSize = 4096 }) { server in
            let client = try await TestServer.client(server) { $0.reconnect = false }
            let room = client.channel("room:big")
            _ = try await room.join()
            #expect(try await room.push("ping", ["fits": .string(String(repeating: "a", count: 3000))]).status == .ok)
            let big = String(repeating: "b", count: 5000)
            try await client.sendRaw(text: #"[null,"9","room:big","ping",{"big":"\#(big)"}]"#)
            #expect(try await client.nextClose().code == 1009)
        }
    }

    @Test func channelLimitPerSocket() async throws {
        try await withServer({ $0.limits.maxChannelsPerSocket = 3 }) { server in
            let client = try await TestServer.client(server)
            for index in 0..<3 {
                _ = try await client.channel("room:\(index)").join()
            }
            await #expect {
                try await client.channel("room:3").join()
            } throws: { error in
                guard let response = (error as? ClientError)?.replyResponse else { return false }
                return response == ["reason": "too many channels joined"]
            }
            // Rejoining a topic already joined does not count twice.
            let again = client.channel("room:0")
            _ = try await again.join()
            await client.disconnect()
        }
    }

    @Test func joiningAJoinedTopicAgainClosesTheOldInstance() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let frames = FrameRecorder(client)
            try await client.sendRaw(text: #"["1","1","room:twice","phx_join",{}]"#)
            _ = try await frames.next { if case .reply(let r) = $0, r.ref == "1" { return true }; return false }
            try await client.sendRaw(text: #"["2","2","room:twice","phx_join",{}]"#)
            let close = try await frames.next { if case .message(let m) = $0, m.event == "phx_close" { return true }; return false }
            #expect(close == .message(Message(joinRef: "1", ref: "1", topic: "room:twice", event: "phx_close", payload: .empty)))
            let ok = try await frames.next { if case .reply(let r) = $0, r.ref == "2" { return true }; return false }
            #expect(ok == .reply(Reply(joinRef: "2", ref: "2", topic: "room:twice", status: .ok, response: .json([:]))))
            // A message with the old join_ref is stale and dropped; the current one is answered.
            try await client.sendRaw(text: #"["1","3","room:twice","ping",{}]"#)
            try await client.sendRaw(text: #"["2","4","room:twice","ping",{}]"#)
            let answered = try await frames.next { if case .reply(let r) = $0, r.ref == "3" || r.ref == "4" { return true }; return false }
            guard case .reply(let reply) = answered else { return }
            #expect(reply.ref == "4")
            await client.disconnect()
        }
    }

    @Test func aSlowHandlerDoesNotDelayOtherChannels() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let slow = client.channel("slow:1")
            let fast = client.channel("slow:2")
            _ = try await slow.join()
            _ = try await fast.join()
            async let slowReply = slow.push("slow", ["ms": 1500])
            try await Task.sleep(for: .milliseconds(50))
            let start = ContinuousClock.now
            _ = try await fast.push("fast", [:])
            #expect(ContinuousClock.now - start < .milliseconds(1000), "the fast channel waited for the slow one")
            #expect(try await slowReply.status == .ok)
            await client.disconnect()
        }
    }

    @Test(.timeLimit(.minutes(1))) func messagesToOneChannelAreHandledInOrder() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let channel = client.channel("slow:order")
            _ = try await channel.join()
            let order = AsyncStream<String>.makeStream()
            client.onMessage { frame in
                if case .reply(let reply) = frame, case .json(let json) = reply.response, let event = json["event"]?.stringValue {
                    order.continuation.yield(event)
                }
            }
            // Registering the callback hops to the client's loop; a round trip
            // guarantees it is in place before the pushes below.
            _ = try await channel.push("warmup", [:])
            // The first message is slow; the replies still come back in order.
            async let first = channel.push("slow", ["ms": 200])
            try await Task.sleep(for: .milliseconds(20))
            async let second = channel.push("fast", [:])
            _ = try await (first, second)
            // A push can resolve before the frame callback has run: wait for
            // all three callbacks rather than ending the stream here.
            var events: [String] = []
            for await event in order.stream {
                events.append(event)
                if events.count == 3 { break }
            }
            #expect(events == ["warmup", "slow", "fast"])
            await client.disconnect()
        }
    }

    /// As in Phoenix, a broadcast made while handling a push reaches the
    /// sender before the push's reply (broadcast frames are held for the
    /// batched flush; a reply written after them must not overtake them).
    @Test(.timeLimit(.minutes(1))) func aBroadcastReachesItsSenderBeforeThePushReply() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let room = client.channel("room:order")
            _ = try await room.join()
            let frames = AsyncStream<String>.makeStream()
            client.onMessage { frame in
                switch frame {
                case .message(let message) where message.topic == "room:order":
                    frames.continuation.yield("broadcast")
                case .reply(let reply) where reply.topic == "room:order":
                    frames.continuation.yield("reply")
                default:
                    break
                }
            }
            // A round trip puts the callback in place before the shouts.
            _ = try await room.push("ping", [:])
            let shouts = 20
            for index in 0..<shouts {
                _ = try await room.push("shout", ["n": .int(index)])
            }
            var seen: [String] = []
            for await frame in frames.stream {
                seen.append(frame)
                if seen.count == 1 + 2 * shouts { break }
            }
            #expect(seen == ["reply"] + Array(repeating: ["broadcast", "reply"], count: shouts).flatMap { $0 })
            await client.disconnect()
        }
    }

    @Test func interceptedBroadcastsGoThroughHandleOut() async throws {
        try await withServer { server in
            let sender = try await TestServer.client(server)
            let receiver = try await TestServer.client(server)
            let from = sender.channel("intercept:1")
            let to = receiver.channel("intercept:1")
            _ = try await from.join()
            _ = try await to.join()
            _ = try await from.push("secret", ["text": "hidden"])
            _ = try await from.push("shout", ["text": "loud"])
            let message = try await to.nextMessage()
            #expect(message.event == "shout")
            #expect(message.payload == .json(["text": "LOUD"]))
            // broadcastFrom skipped the sender itself.
            await #expect(throws: ClientError.self) { try await from.nextMessage(event: "shout", timeout: .milliseconds(200)) }
            await sender.disconnect()
            await receiver.disconnect()
        }
    }

    @Test func deferredRepliesTimersAndStop() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let frames = FrameRecorder(client)
            let channel = client.channel("deferred:1")
            _ = try await channel.join()
            #expect(try await channel.push("later", [:]).response == .json(["late": true]))
            _ = try await channel.push("tick", [:])
            #expect(try await channel.nextMessage(event: "tick").payload == .json(["count": 1]))
            let stopReply = try await channel.push("stop", [:])
            #expect(stopReply.response == .json(["bye": true]))
            _ = try await frames.next { if case .message(let m) = $0, m.event == "phx_close", m.topic == "deferred:1" { return true }; return false }
            await client.disconnect()
        }
    }

    @Test func binaryPayloadsBothWays() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server)
            let room = client.channel("room:bin")
            _ = try await room.join()
            let bytes = ByteBuffer(bytes: [0, 1, 2, 250, 255])
            let reply = try await room.push("ping", payload: .binary(bytes))
            #expect(reply.status == .ok)
            #expect(reply.response == .binary(bytes))
            _ = try await room.push("shout", payload: .binary(bytes))
            let broadcast = try await room.nextMessage(event: "shout")
            #expect(broadcast.payload == .binary(bytes))
            await client.disconnect()
        }
    }

    @Test func v1SerializerEndToEnd() async throws {
        try await withServer { server in
            let client = try await TestServer.client(server) { $0.vsn = .v1 }
            let v2 = try await TestServer.client(server)
            let room = client.channel("room:v1")
            let other = v2.channel("room:v1")
            _ = try await room.join()
            _ = try await other.join()
            #expect(try await room.push("ping", ["v": 1]).response == .json(["v": 1]))
            _ = try await other.push("shout", ["from": "v2"])
            #expect(try await room.nextMessage(event: "shout").payload == .json(["from": "v2"]))
            await client.disconnect()
            await v2.disconnect()
        }
    }
}

/// Records every frame a client receives, so a test can wait for one.
final class FrameRecorder: Sendable {
    private let stream: AsyncStream<OutboundFrame>
    private let iterator: IteratorBox

    private final class IteratorBox: @unchecked Sendable {
        var iterator: AsyncStream<OutboundFrame>.Iterator
        init(_ iterator: AsyncStream<OutboundFrame>.Iterator) { self.iterator = iterator }
    }

    init(_ client: PhoenixClient) {
        let (stream, continuation) = AsyncStream<OutboundFrame>.makeStream()
        self.stream = stream
        self.iterator = IteratorBox(stream.makeAsyncIterator())
        client.onMessage { continuation.yield($0) }
    }

    /// The next recorded frame that `predicate` accepts (earlier ones are skipped).
    func next(timeout: Duration = .seconds(5), _ predicate: @escaping @Sendable (OutboundFrame) -> Bool) async throws -> OutboundFrame {
        let box = iterator
        return try await withThrowingTaskGroup(of: OutboundFrame?.self) { group in
            group.addTask {
                while let frame = await box.iterator.next() {
                    if predicate(frame) { return frame }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let frame = try await group.next() ?? nil else { throw ClientError.timeout }
            return frame
        }
    }
}
