import NIOCore
import Switchboard
import SwitchboardClient
import SwitchboardProtocol
import Testing

/// The client's long-poll transport against an in-process ``SwitchboardServer``.
@Suite("Client long-poll against the server")
struct LongPollEndToEndTests {
    private func withServer(_ body: (SwitchboardServer) async throws -> Void) async throws {
        var endpoint = SocketEndpoint(path: "/socket", socket: DemoSocket(), router: BuiltIn.router())
        // A short poll window, so an abandoned session is closed soon.
        endpoint.longPoll = LongPollOptions(window: .seconds(1))
        try await withInProcessServer(endpoint, body)
    }

    @Test("an application's own socket param named token does not stand in for the session's")
    func applicationTokenParam() async throws {
        try await self.withServer { server in
            let port = try #require(server.localPort)
            let client = PhoenixClient(configuration: .init(
                host: "127.0.0.1", port: port, params: ["user_id": "1", "token": "the-app's-own"], transport: .longPoll
            ))
            try await client.connect()
            let room = client.channel("room:token")
            _ = try await room.join()
            #expect(try await room.push("ping", ["n": 1]).response == .json(["n": 1]))
            #expect(await client.statistics.closes == 0)
            await client.disconnect()
        }
    }

    @Test("a long-poll client and a WebSocket client share a room")
    func sharedRoom() async throws {
        try await self.withServer { server in
            let port = try #require(server.localPort)
            let polling = PhoenixClient(configuration: .init(host: "127.0.0.1", port: port, params: ["user_id": "1"], transport: .longPoll))
            let socket = PhoenixClient(configuration: .init(host: "127.0.0.1", port: port, params: ["user_id": "2"]))
            try await polling.connect()
            try await socket.connect()
            #expect(await polling.transport == .longPoll)

            let pollingRoom = polling.channel("room:shared")
            let socketRoom = socket.channel("room:shared")
            _ = try await pollingRoom.join()
            _ = try await socketRoom.join()

            let reply = try await pollingRoom.push("ping", ["n": 7])
            #expect(reply.status == .ok)
            #expect(reply.response == .json(["n": 7]))

            _ = try await socketRoom.push("shout", ["from": "socket"])
            #expect(try await pollingRoom.nextMessage(event: "shout").payload == .json(["from": "socket"]))
            _ = try await pollingRoom.push("shout", ["from": "polling"])
            try await eventually {
                (try? await socketRoom.nextMessage(event: "shout", timeout: .milliseconds(100)).payload) == .json(["from": "polling"])
            }

            // Many pushes in one tick: batched into POSTs the server accepts.
            let replies = AsyncStream.makeStream(of: Int.self)
            polling.eventLoop.execute {
                for index in 0..<150 {
                    pollingRoom.push("ping", payload: .json(["i": .int(index)]), timeout: .seconds(5), onReply: { result in
                        // Every push gets an answer (a reply or its timeout): the loop below ends.
                        guard case .success(let reply) = result, case .json(let json) = reply.response,
                            case .object(let object) = json, case .int(let value)? = object["i"]
                        else {
                            replies.continuation.yield(-1)
                            return
                        }
                        replies.continuation.yield(value)
                    })
                }
            }
            var received: [Int] = []
            for await value in replies.stream {
                received.append(value)
                if received.count == 150 { break }
            }
            #expect(received == Array(0..<150))
            #expect(await polling.statistics.closes == 0)

            await socket.disconnect()
            await polling.disconnect()
            // The client stops polling, so the server closes the session.
            try await eventually { server.connectionCount == 0 }
        }
    }
}
