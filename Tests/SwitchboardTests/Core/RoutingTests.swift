import Testing
@testable import Switchboard

@Suite("Topic routing")
struct RoutingTests {
    struct Named: Channel {
        let name: String
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult { .ok(.string(name)) }
    }

    private func routeName(_ router: ChannelRouter, _ topic: String) -> String? {
        guard let channel = router.route(for: topic)?.factory() as? Named else { return nil }
        return channel.name
    }

    @Test func exactPrefixAndCatchAll() {
        var router = ChannelRouter()
        router.channel("lobby") { Named(name: "exact") }
        router.channel("room:*") { Named(name: "rooms") }
        router.channel("*") { Named(name: "any") }
        #expect(routeName(router, "lobby") == "exact")
        #expect(routeName(router, "lobby2") == "any")
        #expect(routeName(router, "room:1") == "rooms")
        #expect(routeName(router, "room:") == "rooms")
        #expect(routeName(router, "room") == "any")
        #expect(routeName(router, "user:1") == "any")
    }

    @Test func firstMatchingRouteWins() {
        var router = ChannelRouter()
        router.channel("room:*") { Named(name: "first") }
        router.channel("room:vip") { Named(name: "second") }
        #expect(routeName(router, "room:vip") == "first")
    }

    @Test func unmatchedTopicHasNoRoute() {
        var router = ChannelRouter()
        router.channel("room:*") { Named(name: "rooms") }
        #expect(router.route(for: "user:1") == nil)
        #expect(router.route(for: "Room:1") == nil)
    }
}
