import Configuration
import Switchboard
import SwitchboardRedis
import Testing

/// `RedisAdapterConfiguration(reader:nodeName:)`: an application's own
/// `ConfigReader`, scoped to the adapter's keys.
@Suite("Redis adapter configuration from a ConfigReader")
struct ConfigurationReaderTests {
    @Test func readsEveryKeyUnderTheScope() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: [
            "pubsub.redis.url": "redis://:pw@10.0.0.5:6380/2",
            "pubsub.redis.node_name": "eu-1",
            "pubsub.redis.channel_prefix": "staging",
            "pubsub.redis.mode": "global",
            "pubsub.redis.publishers": 4,
            "pubsub.redis.connect_timeout": "500ms",
            "pubsub.redis.outage_buffer": "1000",
            "pubsub.redis.outage_buffer_bytes": "16MiB",
            "pubsub.redis.role_check_interval": "2s",
            "url": "redis://outside-the-scope:1",
        ]))
        let configuration = try RedisAdapterConfiguration(reader: reader.scoped(to: "pubsub.redis"), nodeName: "fallback")
        var expected = RedisAdapterConfiguration(url: try RedisURL("redis://:pw@10.0.0.5:6380/2"), nodeName: "eu-1")
        expected.channelPrefix = "staging"
        expected.mode = .global
        expected.publishers = 4
        expected.connectTimeout = .milliseconds(500)
        expected.outageBuffer = 1000
        expected.outageBufferBytes = 16 << 20
        expected.roleCheckInterval = .seconds(2)
        #expect(configuration == expected)
    }

    @Test func readsTheTLSKeys() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: [
            "pubsub.redis.url": "rediss://cache.example.com:6380",
            "pubsub.redis.tls.ca_file": "/etc/ca.pem",
            "pubsub.redis.tls.certificate_file": "/etc/client.pem",
            "pubsub.redis.tls.key_file": "/etc/client.key",
            "pubsub.redis.tls.server_name": "redis.internal",
            "pubsub.redis.tls.insecure": false,
        ]))
        let configuration = try RedisAdapterConfiguration(reader: reader.scoped(to: "pubsub.redis"), nodeName: "a")
        #expect(configuration.url.tls)
        #expect(configuration.tls == RedisTLSConfiguration(
            caFile: "/etc/ca.pem", certificateFile: "/etc/client.pem", keyFile: "/etc/client.key", serverName: "redis.internal"
        ))
        let insecure = ConfigReader(provider: InMemoryProvider(values: ["tls.insecure": "yes"]))
        #expect(try RedisAdapterConfiguration(reader: insecure, nodeName: "a").tls.insecureSkipVerification)
    }

    @Test func unsetKeysKeepTheDefaults() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: ["other.key": "x"]))
        let configuration = try RedisAdapterConfiguration(reader: reader.scoped(to: "pubsub.redis"), nodeName: "node-a")
        #expect(configuration == RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:6379/0"), nodeName: "node-a"))
    }

    @Test func theFirstProviderThatSetsAKeyWins() throws {
        let reader = ConfigReader(providers: [
            InMemoryProvider(values: ["redis.publishers": "2"]),
            InMemoryProvider(values: ["redis.publishers": "8", "redis.mode": "global"]),
        ])
        let configuration = try RedisAdapterConfiguration(reader: reader.scoped(to: "redis"), nodeName: "n")
        #expect(configuration.publishers == 2)
        #expect(configuration.mode == .global)
    }

    @Test("a value that cannot be used names its key", arguments: [
        ("url", "http://10.0.0.5", "url"),
        ("mode", "both", "mode"),
        ("publishers", "0", "publishers"),
        ("publishers", "many", "publishers"),
        ("connect_timeout", "soon", "connect_timeout"),
        ("outage_buffer", "-1", "outage_buffer"),
        ("outage_buffer_bytes", "lots", "outage_buffer_bytes"),
        ("outage_buffer_bytes", "64MB", "outage_buffer_bytes"),
        ("outage_buffer_bytes", "0", "outage_buffer_bytes"),
        ("role_check_interval", "often", "role_check_interval"),
    ])
    func badValues(key: String, value: String, expectedKey: String) {
        let reader = ConfigReader(provider: InMemoryProvider(values: [AbsoluteConfigKey(["redis", key]): .init(.string(value), isSecret: false)]))
        let error = #expect(throws: RedisAdapterConfigurationError.self) {
            try RedisAdapterConfiguration(reader: reader.scoped(to: "redis"), nodeName: "n")
        }
        #expect(error?.key == expectedKey)
        #expect(error?.value == value)
    }

    @Test("outage_buffer_bytes takes a number of bytes or a size with a binary unit")
    func outageBufferBytes() throws {
        for (value, bytes) in [("1048576", 1 << 20), ("64KiB", 64 << 10), ("64 MiB", 64 << 20), ("2GiB", 2 << 30)] {
            let reader = ConfigReader(provider: InMemoryProvider(values: ["outage_buffer_bytes": .init(.string(value), isSecret: false)]))
            #expect(try RedisAdapterConfiguration(reader: reader, nodeName: "n").outageBufferBytes == bytes, "\(value)")
        }
        let number = ConfigReader(provider: InMemoryProvider(values: ["outage_buffer_bytes": 4096]))
        #expect(try RedisAdapterConfiguration(reader: number, nodeName: "n").outageBufferBytes == 4096)
        let bad = ConfigReader(provider: InMemoryProvider(values: ["outage_buffer_bytes": "64MB"]))
        let error = #expect(throws: RedisAdapterConfigurationError.self) {
            try RedisAdapterConfiguration(reader: bad, nodeName: "n")
        }
        #expect(error?.problem.contains("\"64MiB\"") == true, "\(error?.problem ?? "")")
    }
}
