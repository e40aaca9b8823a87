import Logging
import Testing
@testable import SwitchboardTesting

import Switchboard

/// The built-in channels over a real loopback connection to an in-process
/// server, frame by frame.
struct BuiltInChannelTests {
    /// Starts a server with ``BuiltIn/endpoint(path:)`` on a free port, runs `body`, shuts it down.
    private func withBuiltInServer(_ body: (Int) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.eventLoopThreads = 1
        configuration.shutdownGracePeriod = .seconds(2)
        var logger = Logger(label: "builtin-test")
        logger.logLevel = .error
        let server = SwitchboardServer(configuration: configuration, endpoints: [BuiltIn.endpoint()], logger: logger)
        try await server.start()
        do {
            try await body(try #require(server.localPort))
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    private func connect(_ port: Int, userID: String) async throws -> RawWebSocket {
        try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user_id=\(userID)")
    }

    @Test func shoutReachesEveryoneInTheRoomPingEchoesAndNodeNamesTheNode() async throws {
        try await withBuiltInServer { port in
            let alice = try await connect(port, userID: "1")
            let bob = try await connect(port, userID: "2")
            defer { alice.close(); bob.close() }

            try await alice.send(#"["1","1","room:lobby","phx_join",{}]"#)
            #expect(try await alice.receiveText() == #"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#)
            try await bob.send(#"["5","5","room:lobby","phx_join",{}]"#)
            #expect(try await bob.receiveText() == #"["5","5","room:lobby","phx_reply",{"status":"ok","response":{}}]"#)

            try await alice.send(#"["1","2","room:lobby","shout",{"body":"hi","n":1}]"#)
            let broadcast = #"[null,null,"room:lobby","shout",{"body":"hi","n":1}]"#
            #expect(Set(try await alice.receiveTexts(2)) == [
                broadcast, #"["1","2","room:lobby","phx_reply",{"status":"ok","response":{}}]"#,
            ])
            #expect(try await bob.receiveText() == broadcast)

            try await bob.send(#"["5","6","room:lobby","ping",{"x":[1,2.5,"three"]}]"#)
            #expect(try await bob.receiveText() == #"["5","6","room:lobby","phx_reply",{"status":"ok","response":{"x":[1,2.5,"three"]}}]"#)

            try await bob.send(#"["5","8","room:lobby","node",{}]"#)
            let node = try JSONValue(parsing: try await bob.receiveText())
            #expect(node[4]?["response"]?["node"]?.stringValue?.isEmpty == false)

            try await bob.send(#"["5","7","room:lobby","dance",{}]"#)
            #expect(try await bob.receiveText() == #"["5","7","room:lobby","phx_reply",{"status":"error","response":{"reason":"unknown event"}}]"#)
        }
    }

    @Test func onlyTheOwnUserTopicCanBeJoined() async throws {
        try await withBuiltInServer { port in
            let socket = try await connect(port, userID: "42")
            defer { socket.close() }
            try await socket.send(#"["1","1","user:42","phx_join",{}]"#)
            #expect(try await socket.receiveText() == #"["1","1","user:42","phx_reply",{"status":"ok","response":{}}]"#)
            try await socket.send(#"["2","2","user:43","phx_join",{}]"#)
            #expect(try await socket.receiveText() == #"["2","2","user:43","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#)
            try await socket.send(#"["1","3","user:42","ping",{}]"#)
            #expect(try await socket.receiveText() == #"["1","3","user:42","phx_reply",{"status":"error","response":{"reason":"unknown event"}}]"#)

            let anonymous = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            defer { anonymous.close() }
            try await anonymous.send(#"["1","1","user:","phx_join",{}]"#)
            #expect(try await anonymous.receiveText() == #"["1","1","user:","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#)
        }
    }

    @Test func otherTopicsAreUnmatched() async throws {
        try await withBuiltInServer { port in
            let socket = try await connect(port, userID: "1")
            defer { socket.close() }
            try await socket.send(#"["1","1","lobby","phx_join",{}]"#)
            #expect(try await socket.receiveText() == #"["1","1","lobby","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#)
        }
    }
}
