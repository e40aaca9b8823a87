import Configuration
import Foundation
import Switchboard
@testable import SwitchboardRedis
import SwitchboardTesting
import Testing

/// AUTH with `requirepass` and with an ACL user limited to the adapter's
/// commands and to its channel prefix.
@Suite("Redis AUTH and ACL", .serialized)
struct AccessControlTests {
    /// The ACL rules the README documents for the adapter's user, on `prefix`.
    static func pubsubUser(_ name: String = "app", password: String = "pw", prefix: String, without: Set<String> = []) -> [String] {
        let commands = ["+publish", "+subscribe", "+unsubscribe", "+ping", "+client|setname"].filter { !without.contains($0) }
        return [name, "on", ">\(password)", "resetchannels", "&\(prefix):*", "-@all"] + commands
    }

    @Test("an ACL user limited to PUBLISH, SUBSCRIBE, UNSUBSCRIBE and PING on the prefix carries a shout between two nodes")
    func limitedUserWorks() async throws {
        // The minimal set: CLIENT SETNAME is only nice to have.
        let user = Self.pubsubUser(prefix: "tenant-a", without: ["+client|setname"])
        let redis = try await RedisTestServer.start(password: "admin", users: [user])
        let url = "redis://app:pw@127.0.0.1:\(redis.port)"
        try await TestCluster.with(nodes: 2, redis: redis, urls: [url, url], configure: { $0.channelPrefix = "tenant-a" }) { cluster in
            let (_, roomA) = try await cluster.joined(0, "room:acl")
            let (_, roomB) = try await cluster.joined(1, "room:acl")
            _ = try await roomA.push("shout", ["text": "allowed"])
            #expect(try await roomB.nextMessage(event: "shout").payload == .json(["text": "allowed"]))
            // The probe (a publish and its echo on the node's own channel) keeps working too.
            try await Task.sleep(for: .seconds(1.5))
            #expect(cluster.adapters.allSatisfy { $0.statistics.probeFailures == 0 })
            #expect(cluster.adapters.allSatisfy { $0.status.state == "connected" })
        }
    }

    @Test("the same user with another cluster's prefix is refused at start, naming the channel rule")
    func otherPrefixIsRefused() async throws {
        let redis = try await RedisTestServer.start(users: [Self.pubsubUser(prefix: "tenant-a")])
        defer { redis.stop() }
        let error = try await Self.startError("redis://app:pw@127.0.0.1:\(redis.port)", prefix: "tenant-b")
        #expect(error.contains("refused PUBLISH tenant-b:access-check:publish to user app") || error.contains("refused SUBSCRIBE tenant-b:access-check:subscribe to user app"), "\(error)")
        #expect(error.contains("NOPERM"), "\(error)")
        #expect(error.contains("&tenant-b:*"), "\(error)")
        #expect(!error.contains("pw@"), "the password must not be shown: \(error)")
    }

    @Test("a user without +publish fails at start with NOPERM and the rights it needs")
    func userWithoutPublishIsRefused() async throws {
        let redis = try await RedisTestServer.start(users: [Self.pubsubUser(prefix: "tenant-a", without: ["+publish"])])
        defer { redis.stop() }
        let error = try await Self.startError("redis://app:pw@127.0.0.1:\(redis.port)", prefix: "tenant-a")
        #expect(
            error.hasPrefix("Redis at 127.0.0.1:\(redis.port) refused PUBLISH tenant-a:access-check:publish to user app (redis://app:***@127.0.0.1:\(redis.port)/0): NOPERM"),
            "\(error)"
        )
        #expect(error.contains("'publish' command"), "\(error)")
        #expect(error.contains("+publish +subscribe +unsubscribe +ping"), "\(error)")
    }

    @Test("a user without +subscribe fails at start with NOPERM")
    func userWithoutSubscribeIsRefused() async throws {
        let redis = try await RedisTestServer.start(users: [Self.pubsubUser(prefix: "tenant-a", without: ["+subscribe"])])
        defer { redis.stop() }
        let error = try await Self.startError("redis://app:pw@127.0.0.1:\(redis.port)", prefix: "tenant-a")
        #expect(error.contains("refused SUBSCRIBE tenant-a:access-check:subscribe to user app"), "\(error)")
        #expect(error.contains("NOPERM"), "\(error)")
    }

    @Test("a wrong password for the ACL user is refused with WRONGPASS, the password not shown")
    func wrongUserPasswordIsRefused() async throws {
        let redis = try await RedisTestServer.start(users: [Self.pubsubUser(prefix: "tenant-a")])
        defer { redis.stop() }
        let error = try await Self.startError("redis://app:nope@127.0.0.1:\(redis.port)", prefix: "tenant-a")
        #expect(error == "Redis at 127.0.0.1:\(redis.port) refused the credentials in redis://app:***@127.0.0.1:\(redis.port)/0: WRONGPASS invalid username-password pair or user is disabled.")
    }

    @Test("username and password_file settings log in; the password is never shown")
    func passwordFromFile() async throws {
        let redis = try await RedisTestServer.start(users: [Self.pubsubUser(password: "from file", prefix: "switchboard")])
        defer { redis.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("redis-password-\(UInt32.random(in: 0 ... .max))")
        try Data("from file\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let reader = ConfigReader(provider: InMemoryProvider(values: [
            "url": .init(.string("redis://127.0.0.1:\(redis.port)"), isSecret: false),
            "username": "app",
            "password_file": .init(.string(file.path), isSecret: false),
        ]))
        let configuration = try RedisAdapterConfiguration(reader: reader, nodeName: "a")
        #expect(configuration.url.username == "app")
        #expect(configuration.url.password == "from file")
        #expect(configuration.url.description == "redis://app:***@127.0.0.1:\(redis.port)/0")
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        #expect(adapter.status.state == "connected")
        #expect(adapter.status.detail?.contains("from file") == false)
        await adapter.shutdown()
    }

    @Test("credentials set twice, or a user without a password, are configuration errors")
    func credentialSettingsAreChecked() throws {
        func error(_ values: [AbsoluteConfigKey: ConfigValue]) -> String {
            let reader = ConfigReader(provider: InMemoryProvider(values: values))
            return (#expect(throws: RedisAdapterConfigurationError.self) { try RedisAdapterConfiguration(reader: reader, nodeName: "a") })?.description ?? "no error"
        }
        let twice = error(["url": "redis://:one@127.0.0.1", "password": .init(.string("two"), isSecret: true)])
        #expect(twice.contains("has a password already; set it in one place"), "\(twice)")
        #expect(!twice.contains("two") && !twice.contains("one@"), "\(twice)")
        let lonelyUser = error(["username": "app"])
        #expect(lonelyUser.contains("a user needs a password"), "\(lonelyUser)")
        let missingFile = error(["password_file": "/nonexistent/redis-password"])
        #expect(missingFile.contains("cannot read it"), "\(missingFile)")
        let badFlag = error(["tls.insecure": "perhaps"])
        #expect(badFlag.contains("expected true or false"), "\(badFlag)")
    }

    @Test("rights revoked at runtime: the health detail says NOPERM, logged once and not at every attempt, and the node recovers when they are back")
    func revokedRightsShowInHealth() async throws {
        let redis = try await RedisTestServer.start(password: "admin", users: [Self.pubsubUser(prefix: "switchboard")])
        defer { redis.stop() }
        var configuration = RedisAdapterConfiguration(url: try RedisURL("redis://app:pw@127.0.0.1:\(redis.port)"), nodeName: "a")
        configuration.connectTimeout = .seconds(2)
        let logs = LogCapture()
        let adapter = RedisAdapter(configuration: configuration, logger: logs.logger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        defer { Task { await adapter.shutdown() } }

        // The connections stay; the next probe's PUBLISH is refused (the
        // detail first says so), then every reconnect's access check.
        try await redis.cli(["ACL", "SETUSER", "app", "-publish"])
        try await eventually(within: .seconds(5)) {
            adapter.status.state == "reconnecting" && adapter.status.detail?.contains("NOPERM") == true
        }
        try await eventually(within: .seconds(3)) {
            adapter.status.detail?.contains("refused PUBLISH switchboard:access-check:publish to user app") == true
        }
        // Reconnect attempts at 0.1, 0.3, 0.7, 1.5 s and on: the reason is logged when it changes, not each time.
        try await Task.sleep(for: .seconds(2.5))
        #expect(adapter.statistics.reconnects == 0)
        let refusals = logs.lines(containing: "refused PUBLISH switchboard:access-check:publish")
        #expect(refusals.count == 1, "\(refusals)")

        try await redis.cli(["ACL", "SETUSER", "app", "+publish"])
        try await eventually(within: .seconds(5)) { adapter.status.state == "connected" }
        await adapter.shutdown()
    }

    /// The description of the error that `start()` throws.
    static func startError(_ url: String, prefix: String) async throws -> String {
        var configuration = RedisAdapterConfiguration(url: try RedisURL(url), nodeName: "a")
        configuration.channelPrefix = prefix
        configuration.connectTimeout = .seconds(3)
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        let error = await #expect(throws: RedisAdapterError.self) { try await adapter.start(deliver: { _ in }, control: { _ in }) }
        return error?.description ?? "no error"
    }
}
