import Testing

@testable import Switchboard

/// ``DemoSocket``, ``UserChannel``'s join rule and ``BuiltIn``'s routes, without a server.
struct DemoSocketTests {
    private static let info = ConnectInfo(peerAddress: nil, uri: "/socket/websocket", headers: [], authToken: nil)

    private static func assigns(_ params: [String: String]) async throws -> Assigns? {
        guard case .ok(let assigns) = try await DemoSocket().connect(params: params, info: info) else { return nil }
        return assigns
    }

    @Test func acceptsEveryConnectionAndKeepsTheUserID() async throws {
        #expect(try await Self.assigns(["user_id": "42", "vsn": "2.0.0"]) == ["user_id": "42"])
        #expect(try await Self.assigns([:]) == [:])
        #expect(try await Self.assigns(["user_id": ""]) == [:])
    }

    @Test func socketIDNamesTheUser() {
        #expect(DemoSocket().id(assigns: ["user_id": "42"]) == "user_socket:42")
        #expect(DemoSocket().id(assigns: ["user_id": 7]) == "user_socket:7")
        #expect(DemoSocket().id(assigns: [:]) == nil)
        #expect(DemoSocket().id(assigns: ["user_id": true]) == nil)
    }

    @Test(arguments: [
        ("user:42", ["user_id": "42"], true),
        ("user:7", ["user_id": 7], true),
        ("user:42", ["user_id": "4"], false),
        ("user:4", ["user_id": "42"], false),
        ("user:42", [:], false),
        ("user:", ["user_id": ""], false),
        ("user:", [:], false),
        ("user:1.0", ["user_id": 1.0], false),
        ("room:42", ["user_id": "42"], false),
    ] as [(String, Assigns, Bool)])
    func userTopicsAreForTheirOwnUserOnly(topic: String, assigns: Assigns, allowed: Bool) {
        switch UserChannel.authorize(topic: topic, assigns: assigns) {
        case .ok(let response):
            #expect(allowed)
            #expect(response == [:])
        case .error(let response):
            #expect(!allowed)
            #expect(response == ["reason": "unauthorized"])
        }
    }

    @Test func routerRoutesRoomsAndUsers() {
        let router = BuiltIn.router()
        #expect(router.route(for: "room:lobby")?.factory() is RoomChannel)
        #expect(router.route(for: "room:")?.factory() is RoomChannel)
        #expect(router.route(for: "user:1")?.factory() is UserChannel)
        #expect(router.route(for: "lobby") == nil)
        #expect(router.route(for: "rooms:1") == nil)
        #expect(BuiltIn.endpoint().path == "/socket")
        #expect(BuiltIn.endpoint(path: "/live/").path == "/live")
        #expect(BuiltIn.endpoint().socket is DemoSocket)
    }
}
