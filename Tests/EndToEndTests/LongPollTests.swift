import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The long-poll transport at `<socket path>/longpoll`, spoken by hand as
/// phoenix.js speaks it.
@Suite struct LongPollTests {
    private static func endpoints(window: Duration = .seconds(10)) -> [SocketEndpoint] {
        TestServer.endpoints(longPoll: LongPollOptions(window: window, maxMessagesPerPost: 50))
    }

    private static let join = #"["1","1","room:lobby","phx_join",{}]"#

    @Test func connectJoinPushAndReceiveABroadcast() async throws {
        try await withServer(endpoints: Self.endpoints(), AdminTestSupport.configure) { server in
            let port = server.localPort!
            let session = try await RawLongPoll.open(port: port)
            #expect(server.connectionCount == 1, "a session counts as a connection")

            let posted = try await session.post([Self.join, #"["1","2","room:lobby","ping",{"n":7}]"#])
            #expect(posted.httpStatus == 200 && posted.status == 200)
            let replies = try await session.messages(count: 2)
            #expect(replies == [
                #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#,
                #"["1","2","room:lobby","phx_reply",{"status":"ok","response":{"n":7}}]"#,
            ])

            let broadcast = try await RawHTTP.request(
                port: port, method: "POST", path: "/api/broadcast",
                headers: ["Authorization: Bearer \(TestServer.apiKey)", "Content-Type: application/json"],
                body: #"{"topic":"room:lobby","event":"news","payload":{"text":"hello"}}"#
            )
            #expect(broadcast.status == 202)
            #expect(try await session.messages(count: 1) == [#"[null,null,"room:lobby","news",{"text":"hello"}]"#])

            let metrics = try await AdminTestSupport.scrape(server)
            #expect(metrics.body.contains(#"switchboard_socket_connects_total{status="ok",transport="longpoll"} 1"#))
            #expect(metrics.body.contains("switchboard_longpoll_sessions 1"))
            #expect(metrics.body.contains("switchboard_connections 1"))
        }
    }

    @Test func aPollIsHeldUntilAMessageIsWrittenOrTheWindowPasses() async throws {
        // 2 s: a session not polled for 1.5 windows closes, and a loaded test
        // machine can take a second between two polls.
        try await withServer(endpoints: Self.endpoints(window: .seconds(2))) { server in
            let session = try await RawLongPoll.open(port: server.localPort!)
            _ = try await session.post([Self.join])
            _ = try await session.messages(count: 1)

            let clock = ContinuousClock()
            let started = clock.now
            let empty = try await session.poll()
            #expect(empty.status == 204 && empty.token == session.token && empty.messages.isEmpty)
            #expect(clock.now - started >= .milliseconds(1900), "held for the window")

            async let held = session.poll()
            try await Task.sleep(for: .milliseconds(200))
            _ = try await session.post([#"["1","3","room:lobby","ping",{"n":1}]"#])
            let answer = try await held
            #expect(answer.status == 200)
            #expect(answer.messages == [#"["1","3","room:lobby","phx_reply",{"status":"ok","response":{"n":1}}]"#])
        }
    }

    @Test func aSecondPollReplacesTheHeldOne() async throws {
        // A window well beyond the bound below, which leaves room for a machine busy starting every suite.
        try await withServer(endpoints: Self.endpoints(window: .seconds(6))) { server in
            let session = try await RawLongPoll.open(port: server.localPort!)
            let clock = ContinuousClock()
            let started = clock.now
            async let first = session.poll()
            try await Task.sleep(for: .milliseconds(300))
            async let second = session.poll()
            let firstAnswer = try await first
            #expect(firstAnswer.status == 204)
            #expect(clock.now - started < .seconds(4), "the older poll is answered when the newer one arrives")
            try await Task.sleep(for: .milliseconds(100))
            _ = try await session.post([Self.join])
            let secondAnswer = try await second
            #expect(secondAnswer.status == 200 && secondAnswer.messages.count == 1)
        }
    }

    @Test func manyParallelPollsHoldOneAndAnswerTheRestAtOnce() async throws {
        try await withServer(endpoints: Self.endpoints(window: .seconds(8))) { server in
            let session = try await RawLongPoll.open(port: server.localPort!)
            let clock = ContinuousClock()
            let started = clock.now
            let count = 200
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<count {
                    group.addTask { try await session.poll().status }
                }
                // All but the last one held are answered long before the window ends.
                var statuses: [Int] = []
                for try await status in group {
                    statuses.append(status)
                    if statuses.count == count - 1 {
                        #expect(clock.now - started < .seconds(6), "answered at once, not at the window")
                        _ = try await session.post([Self.join])
                    }
                }
                return statuses
            }
            #expect(statuses.filter { $0 == 204 }.count == count - 1)
            #expect(statuses.filter { $0 == 200 }.count == 1, "the one poll held gets the reply")
            #expect(server.connectionCount == 1)
        }
    }

    /// A session token that is unknown, forged, edited or for another path
    /// is gone (410). A poll whose `token` is no session token at all (an
    /// application's own socket param of that name, say) starts a session,
    /// as Phoenix does; a post with one is gone.
    @Test func unknownForgedAndMovedTokensAreGone() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            let session = try await RawLongPoll.open(port: port)
            let forged = String(session.token.dropLast(2)) + (session.token.hasSuffix("AA") ? "BB" : "AA")
            let parts = session.token.split(separator: ".")
            let edited = String(parts[0].dropLast()) + (parts[0].hasSuffix("x") ? "y" : "x") + "." + parts[1]
            for token in ["garbage", forged, edited, "", String(repeating: "a", count: 5_000)] {
                let poll = try await RawLongPoll.request(port: port, method: "GET", target: "/socket/longpoll?vsn=2.0.0&token=\(token)")
                if token.isEmpty || token == "garbage" || token.count > 1_024 {
                    #expect(poll.status == 410 && poll.token != nil, "no session token: a new session")
                } else {
                    #expect(poll.status == 410 && poll.token == nil, "token \(token.prefix(20))…")
                }
                let post = try await RawLongPoll.request(
                    port: port, method: "POST", target: "/socket/longpoll?vsn=2.0.0&token=\(token)", body: Self.join
                )
                #expect(post.status == 410)
            }
            // The same token at another socket path is not a session there.
            let moved = try await RawLongPoll.request(port: port, method: "GET", target: "/guarded/longpoll?vsn=2.0.0&token=\(session.token)")
            #expect(moved.status == 410 && moved.token == nil)
            // The header carries the token too.
            let byHeader = try await RawLongPoll.request(
                port: port, method: "POST", target: "/socket/longpoll?vsn=2.0.0",
                headers: ["X-Phoenix-Longpoll-Token: \(session.token)"], body: Self.join
            )
            #expect(byHeader.status == 200)
        }
    }

    @Test func refusedConnectsSayWhyInPhoenixTerms() async throws {
        try await withServer(endpoints: Self.endpoints(), { $0.limits.maxConnectionsPerAddress = 3 }) { server in
            let port = server.localPort!
            let refused = try await RawLongPoll.request(port: port, method: "GET", target: "/guarded/longpoll?vsn=2.0.0")
            #expect(refused.httpStatus == 403 && refused.status == 403, "phoenix.js gives up on 403")
            let badVersion = try await RawLongPoll.request(port: port, method: "GET", target: "/socket/longpoll?vsn=9.9.9")
            #expect(badVersion.httpStatus == 400 && badVersion.status == 500)
            let origin = try await RawLongPoll.request(
                port: port, method: "GET", target: "/socket/longpoll?vsn=2.0.0", headers: ["Origin: https://evil.example"]
            )
            #expect(origin.status == 403)

            // Sessions hold the address's slots, beside the connections carrying the requests.
            var sessions: [RawLongPoll] = []
            for _ in 0..<2 { sessions.append(try await RawLongPoll.open(port: port)) }
            let limited = try await RawLongPoll.request(port: port, method: "GET", target: "/socket/longpoll?vsn=2.0.0")
            #expect(limited.httpStatus == 429 && limited.status == 500, "phoenix.js retries on 500")

            _ = await server.drain(over: .zero)
            let draining = try await RawLongPoll.request(port: port, method: "GET", target: "/socket/longpoll?vsn=2.0.0")
            #expect(draining.httpStatus == 503 && draining.status == 500)
        }
    }

    @Test func aSessionWhoseClientStopsPollingIsClosed() async throws {
        try await withServer(endpoints: Self.endpoints(window: .seconds(2))) { server in
            let clock = ContinuousClock()
            let opened = clock.now
            let session = try await RawLongPoll.open(port: server.localPort!)
            _ = try await session.post([Self.join])
            #expect(server.connectionCount == 1)
            let deadline = clock.now + .seconds(15)
            while server.connectionCount > 0 && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(server.connectionCount == 0, "closed after 1.5 windows without a poll")
            #expect(clock.now - opened >= .milliseconds(2_900), "not before")
            // Its join reply was queued before the close: one more poll gets it, the next finds it gone.
            let last = try await session.poll()
            #expect(last.status == 200 && last.messages.count == 1)
            #expect(try await session.poll().status == 410)
        }
    }

    @Test func drainingClosesSessionsAndAnswersTheHeldPoll() async throws {
        try await withServer(endpoints: Self.endpoints(window: .seconds(5))) { server in
            let session = try await RawLongPoll.open(port: server.localPort!)
            _ = try await session.post([Self.join])
            _ = try await session.messages(count: 1)
            let clock = ContinuousClock()
            let started = clock.now
            async let held = session.poll()
            try await Task.sleep(for: .milliseconds(200))
            #expect(await server.drain(over: .zero) == 1)
            let answer = try await held
            #expect(clock.now - started < .seconds(3), "answered at the close, not at the window")
            if answer.status == 200 {
                // The channel's close went out first; the poll after it finds the session gone.
                #expect(try await session.poll().status == 410)
            } else {
                #expect(answer.status == 410)
            }
            #expect(server.connectionCount == 0)
        }
    }

    @Test func binaryMessagesTravelInBase64() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let session = try await RawLongPoll.open(port: server.localPort!)
            _ = try await session.post([Self.join])
            _ = try await session.messages(count: 1)
            // A V2 binary push: kind 0, join_ref "1", ref "5", topic, event "ping", payload bytes.
            var push: [UInt8] = [0, 1, 1, 10, 4]
            push += Array("15room:lobbyping".utf8) + [1, 2, 3, 250]
            let posted = try await session.post([Data(push).base64EncodedString()])
            #expect(posted.status == 200)
            let reply = try #require(try await session.messages(count: 1).first)
            let bytes = try #require(Data(base64Encoded: reply))
            #expect(bytes.first == 1, "a V2 binary reply")
            #expect(Array(bytes.suffix(4)) == [1, 2, 3, 250], "the payload echoed")
        }
    }

    @Test func badPostsAreRefusedAndLeaveTheSessionAlone() async throws {
        try await withServer(endpoints: Self.endpoints()) { server in
            let port = server.localPort!
            let session = try await RawLongPoll.open(port: port)
            let notBase64 = try await session.post(["%%% not a message"])
            #expect(notBase64.httpStatus == 400 && notBase64.error?.contains("neither a JSON message nor base64") == true)
            let tooMany = try await session.post(Array(repeating: #"[null,"9","phoenix","heartbeat",{}]"#, count: 51))
            #expect(tooMany.httpStatus == 400 && tooMany.error?.contains("more than 50 messages") == true)
            let huge = String(repeating: "x", count: 2 << 20)
            let tooLarge = try await RawLongPoll.request(port: port, method: "POST", target: session.target, body: huge)
            #expect(tooLarge.httpStatus == 413)
            #expect(try await session.post([Self.join]).status == 200, "the session is unharmed")
            #expect(try await session.messages(count: 1).count == 1)

            // A message the serializer cannot read closes the session, as it closes a WebSocket.
            #expect(try await session.post(["[1,2,3]"]).status == 410)
            #expect(server.connectionCount == 0)
        }
    }

    @Test func aClientThatNeverPollsIsASlowConsumer() async throws {
        try await withServer(endpoints: Self.endpoints(window: .seconds(5)), { $0.limits.maxOutboundBytes = 64 << 10 }) { server in
            let port = server.localPort!
            let session = try await RawLongPoll.open(port: port)
            _ = try await session.post([Self.join])
            let padding = String(repeating: "y", count: 1_000)
            for index in 0..<100 where server.connectionCount > 0 {
                try await server.pubsub.broadcast(topic: "room:lobby", event: "fill", payload: .json(["n": .int(index), "pad": .string(padding)]))
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(server.connectionCount == 0, "closed once its queue passed max_outbound_bytes")
            #expect(try await session.poll().status == 410, "what was queued is dropped")
        }
    }
}
