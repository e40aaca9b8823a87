import Switchboard
@testable import SwitchboardRedis
import Testing

/// The first connection must work; when it cannot, start() says why.
@Suite("Redis startup errors")
struct StartupErrorTests {
    @Test("a wrong password is refused with WRONGPASS")
    func wrongPassword() async throws {
        let redis = try await RedisTestServer.start(password: "s3cret")
        defer { redis.stop() }
        let configuration = RedisAdapterConfiguration(url: try RedisURL("redis://:wrong@127.0.0.1:\(redis.port)"), nodeName: "a")
        let error = await #expect(throws: RedisAdapterError.self) {
            try await RedisAdapter(configuration: configuration, logger: testLogger("a")).start(deliver: { _ in }, control: { _ in })
        }
        #expect(error?.description.contains("refused the credentials") == true)
        #expect(error?.description.contains("WRONGPASS") == true)
        #expect(error?.description.contains("wrong") == false, "the password must not be shown")
    }

    @Test("a missing password is reported as NOAUTH")
    func missingPassword() async throws {
        let redis = try await RedisTestServer.start(password: "s3cret")
        defer { redis.stop() }
        let configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:\(redis.port)"), nodeName: "a")
        let error = await #expect(throws: RedisAdapterError.self) {
            try await RedisAdapter(configuration: configuration, logger: testLogger("a")).start(deliver: { _ in }, control: { _ in })
        }
        #expect(error?.description.contains("requires a password (NOAUTH)") == true)
    }

    @Test("the right password works, alone or with the default user, and SELECT picks the database")
    func rightPassword() async throws {
        let redis = try await RedisTestServer.start(password: "s3cret")
        defer { redis.stop() }
        for url in ["redis://:s3cret@127.0.0.1:\(redis.port)/3", "redis://default:s3cret@127.0.0.1:\(redis.port)"] {
            let adapter = RedisAdapter(configuration: .init(url: try RedisURL(url), nodeName: "a"), logger: testLogger("a"))
            try await adapter.start(deliver: { _ in }, control: { _ in })
            #expect(adapter.status.state == "connected")
            await adapter.shutdown()
            #expect(adapter.status.state == "stopped")
        }
        let badDatabase = RedisAdapter(configuration: .init(url: try RedisURL("redis://:s3cret@127.0.0.1:\(redis.port)/99"), nodeName: "a"), logger: testLogger("a"))
        let error = await #expect(throws: RedisAdapterError.self) { try await badDatabase.start(deliver: { _ in }, control: { _ in }) }
        #expect(error?.description.contains("refused database 99") == true)
    }

    @Test("an unreachable host is reported, and the server does not start")
    func unreachable() async throws {
        let refusing = try RefusingPort()
        let port = refusing.port
        let configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:\(port)"), nodeName: "a")
        let error = await #expect(throws: RedisAdapterError.self) {
            try await RedisAdapter(configuration: configuration, logger: testLogger("a")).start(deliver: { _ in }, control: { _ in })
        }
        #expect(error?.description == "cannot reach Redis at 127.0.0.1:\(port) (redis://127.0.0.1:\(port)/0): connection refused")

        var serverConfiguration = ServerConfiguration()
        serverConfiguration.port = 0
        let server = SwitchboardServer(
            configuration: serverConfiguration, endpoints: [BuiltIn.endpoint()],
            adapter: RedisAdapter(configuration: configuration, logger: testLogger("a")), logger: testLogger("a")
        )
        await #expect(throws: RedisAdapterError.self) { try await server.start() }
        await server.shutdown()
        withExtendedLifetime(refusing) {}
    }

    @Test("a server that never answers hits the connect timeout")
    func silentServer() async throws {
        // A listening socket that never accepts: TCP connects, the handshake gets no answer.
        let listener = try TestListener()
        var configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:\(listener.port)"), nodeName: "a")
        configuration.connectTimeout = .milliseconds(300)
        let error = await #expect(throws: RedisAdapterError.self) {
            try await RedisAdapter(configuration: configuration, logger: testLogger("a")).start(deliver: { _ in }, control: { _ in })
        }
        #expect(error?.description.contains("did not answer within the connect timeout") == true)
    }

    @Test("malformed URLs are refused with the reason", arguments: [
        ("http://127.0.0.1:6379", "starting with redis://"),
        ("redis:/127.0.0.1", "starting with redis://"),
        ("redis://127.0.0.1:99999", "port from 1 to 65535"),
        ("redis://127.0.0.1:6379/x", "database number"),
        ("redis://user@127.0.0.1", "user:password@"),
        ("redis://:@127.0.0.1", "password is empty"),
        ("redis://", "host is missing"),
        ("redis://127.0.0.1?db=2", "query parameters"),
        ("redis://bad host", "spaces"),
    ])
    func malformedURL(url: String, reason: String) {
        let error = #expect(throws: RedisURLError.self) { try RedisURL(url) }
        #expect(error?.description.contains(reason) == true, "\(error?.description ?? "no error")")
    }

    @Test("well-formed URLs are read fully, and printed without the password")
    func wellFormedURL() throws {
        let full = try RedisURL("redis://app:p%40ss@redis.internal:6380/2")
        #expect(full == RedisURL(host: "redis.internal", port: 6380, username: "app", password: "p@ss", database: 2))
        #expect(full.description == "redis://app:***@redis.internal:6380/2")
        #expect(try RedisURL("redis://:secret@[::1]") == RedisURL(host: "::1", port: 6379, password: "secret"))
        #expect(try RedisURL("REDIS://localhost/") == RedisURL(host: "localhost"))
        let tls = try RedisURL("rediss://default:p%40ss@cache.example.com:6380")
        #expect(tls == RedisURL(host: "cache.example.com", port: 6380, username: "default", password: "p@ss", tls: true))
        #expect(tls.description == "rediss://default:***@cache.example.com:6380/0")
        let error = #expect(throws: RedisURLError.self) { try RedisURL("redis://app:secret@host:0") }
        #expect(error?.description.contains("secret") == false)
    }
}
