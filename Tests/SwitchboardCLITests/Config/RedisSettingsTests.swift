import Switchboard
import Configuration
import SwitchboardRedis
import Testing
@testable import switchboard

/// The `pubsub.*` keys of `switchboard serve`: parsed, overridden by the
/// environment, refused with the key's name.
@Suite("Redis settings")
struct RedisSettingsTests {
    @Test("defaults, then the file, the environment and the flags, in that order")
    func keysResolve() throws {
        #expect(ServeSettingKey.redisURL.environmentVariable == "SWITCHBOARD_PUBSUB_REDIS_URL")
        #expect(ServeSettingKey.redisOutageBuffer.environmentVariable == "SWITCHBOARD_PUBSUB_REDIS_OUTAGE_BUFFER")
        #expect(ServeSettingKey.pubsubAdapter.flag == "--adapter")
        #expect(ServeSettingKey.redisURL.flag == "--redis-url")
        #expect(ServeSettingKey.redisMode.flag == "--redis-mode")

        let defaults = try ServeSettings(reader: .serve())
        #expect(defaults.pubsubAdapter == "local")
        #expect(defaults.redisURL == "redis://127.0.0.1:6379/0")
        #expect(defaults.redisMode == "per_topic")
        #expect(defaults.redisPublishers == 1 && defaults.redisOutageBuffer == 0 && defaults.redisConnectTimeout == .seconds(5))

        let settings = try ServeSettings(reader: .serve(
            flags: [.redisMode: "global"],
            environment: [
                "SWITCHBOARD_PUBSUB_ADAPTER": "redis",
                "SWITCHBOARD_PUBSUB_REDIS_URL": "redis://:secret@10.0.0.5:6380/2",
                "SWITCHBOARD_PUBSUB_REDIS_MODE": "per_topic",
                "SWITCHBOARD_PUBSUB_REDIS_NODE_NAME": "eu-1",
                "SWITCHBOARD_PUBSUB_REDIS_CHANNEL_PREFIX": "staging",
                "SWITCHBOARD_PUBSUB_REDIS_PUBLISHERS": "4",
                "SWITCHBOARD_PUBSUB_REDIS_CONNECT_TIMEOUT": "500ms",
                "SWITCHBOARD_PUBSUB_REDIS_OUTAGE_BUFFER": "1000",
                "SWITCHBOARD_PUBSUB_REDIS_OUTAGE_BUFFER_BYTES": "16MiB",
                "SWITCHBOARD_PUBSUB_REDIS_ROLE_CHECK_INTERVAL": "2s",
            ]))
        #expect(settings.pubsubAdapter == "redis")
        #expect(settings.redisURL == "redis://:secret@10.0.0.5:6380/2")
        #expect(settings.redisMode == "global")
        #expect(settings.redisNodeName == "eu-1")
        #expect(settings.redisChannelPrefix == "staging")
        #expect(settings.redisPublishers == 4)
        #expect(settings.redisConnectTimeout == .milliseconds(500))
        #expect(settings.redisOutageBuffer == 1000)
        #expect(settings.redisOutageBufferBytes == 16 << 20)
        #expect(settings.redisRoleCheckInterval == .seconds(2))
        #expect(defaults.redisOutageBufferBytes == 64 << 20 && defaults.redisRoleCheckInterval == .seconds(5))
    }

    @Test("bad values are refused with the key and where it was set", arguments: [
        (ServeSettingKey.pubsubAdapter, "rabbitmq", "expected one of: local, redis"),
        (.redisMode, "both", "expected one of: per_topic, global"),
        (.redisPublishers, "0", "from 1 to 64"),
        (.redisConnectTimeout, "0", "above zero"),
        (.redisOutageBuffer, "-1", "from 0 to 1000000"),
        (.redisOutageBufferBytes, "64MB", "a size in bytes from 1KiB"),
        (.redisOutageBufferBytes, "0", "a size in bytes from 1KiB"),
        (.redisRoleCheckInterval, "-1s", "from 0 (off) to 1h"),
        (.redisNodeName, "has space", "letters, digits"),
        (.redisChannelPrefix, "a/b", "letters, digits"),
        (.redisTLSInsecure, "maybe", "expected true or false"),
        (.redisTLSServerName, "two words", "a host name"),
        (.redisUsername, "two words", "without spaces"),
    ])
    func badValues(key: ServeSettingKey, value: String, problem: String) {
        let error = #expect(throws: ServeSettingsError.self) {
            try ServeSettings(reader: .serve(environment: [key.environmentVariable: value]))
        }
        #expect(error?.key == key)
        #expect(error?.description.hasPrefix("invalid value \"\(value)\" for \(key.rawValue) (from \(key.environmentVariable)):") == true)
        #expect(error?.problem.contains(problem) == true, "\(error?.problem ?? "")")
    }

    @Test("TLS and credential settings reach the adapter's configuration from flags, variables and the file's keys")
    func tlsAndCredentialSettings() throws {
        #expect(ServeSettingKey.redisTLSCAFile.flag == "--redis-tls-ca-file")
        #expect(ServeSettingKey.redisPasswordFile.flag == "--redis-password-file")
        #expect(ServeSettingKey.redisTLSInsecure.environmentVariable == "SWITCHBOARD_PUBSUB_REDIS_TLS_INSECURE")
        #expect(ServeSettingKey.redisPassword.isSecret)
        #expect(ConfigFileKeys.firstUnknown(in: "pubsub:\n  redis:\n    tls:\n      ca_file: /etc/ca.pem\n") == nil)
        let reader = ConfigReader.serve(
            flags: [.redisTLSCAFile: "/etc/ca.pem", .redisTLSServerName: "redis.internal"],
            environment: [
                "SWITCHBOARD_PUBSUB_ADAPTER": "redis",
                "SWITCHBOARD_PUBSUB_REDIS_URL": "rediss://cache.example.com:6380",
                "SWITCHBOARD_PUBSUB_REDIS_USERNAME": "app",
                "SWITCHBOARD_PUBSUB_REDIS_PASSWORD": "s3cret",
                "SWITCHBOARD_PUBSUB_REDIS_TLS_CERTIFICATE_FILE": "/etc/client.pem",
                "SWITCHBOARD_PUBSUB_REDIS_TLS_KEY_FILE": "/etc/client.key",
            ]
        )
        let settings = try ServeSettings(reader: reader)
        #expect(settings.redisTLSCAFile == "/etc/ca.pem")
        let configuration = try settings.redisAdapterConfiguration(reader: reader)
        #expect(configuration.url.description == "rediss://app:***@cache.example.com:6380/0")
        #expect(configuration.url.password == "s3cret")
        #expect(configuration.tls == RedisTLSConfiguration(
            caFile: "/etc/ca.pem", certificateFile: "/etc/client.pem", keyFile: "/etc/client.key", serverName: "redis.internal"
        ))

        let twice = ConfigReader.serve(environment: [
            "SWITCHBOARD_PUBSUB_REDIS_URL": "redis://:one@127.0.0.1",
            "SWITCHBOARD_PUBSUB_REDIS_PASSWORD": "two",
        ])
        let error = #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: twice).redisAdapterConfiguration(reader: twice) }
        #expect(error?.description.hasPrefix("invalid value \"<redacted>\" for pubsub.redis.password (from SWITCHBOARD_PUBSUB_REDIS_PASSWORD)") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("two") == false)
    }

    @Test("Sentinel settings: the sentinels' user and password reach the adapter, the password never shown")
    func sentinelSettings() throws {
        #expect(ServeSettingKey.redisSentinelPasswordFile.flag == "--redis-sentinel-password-file")
        #expect(ServeSettingKey.redisSentinelPassword.isSecret)
        #expect(ServeSettingKey.redisSentinelPassword.environmentVariable == "SWITCHBOARD_PUBSUB_REDIS_SENTINEL_PASSWORD")
        #expect(ConfigFileKeys.firstUnknown(in: "pubsub:\n  redis:\n    sentinel:\n      password_file: /run/s\n") == nil)
        let reader = ConfigReader.serve(environment: [
            "SWITCHBOARD_PUBSUB_ADAPTER": "redis",
            "SWITCHBOARD_PUBSUB_REDIS_URL": "redis+sentinel://:master-pw@10.0.0.1,10.0.0.2:26380/mymaster",
            "SWITCHBOARD_PUBSUB_REDIS_SENTINEL_USERNAME": "watcher",
            "SWITCHBOARD_PUBSUB_REDIS_SENTINEL_PASSWORD": "sentinel-pw",
        ])
        let configuration = try ServeSettings(reader: reader).redisAdapterConfiguration(reader: reader)
        #expect(configuration.url.sentinel?.masterName == "mymaster")
        #expect(configuration.url.password == "master-pw")
        #expect(configuration.sentinelUsername == "watcher")
        #expect(configuration.sentinelPassword == "sentinel-pw")
        #expect(configuration.url.description == "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26380/mymaster")

        let notSentinel = ConfigReader.serve(environment: [
            "SWITCHBOARD_PUBSUB_REDIS_URL": "redis://127.0.0.1",
            "SWITCHBOARD_PUBSUB_REDIS_SENTINEL_PASSWORD": "sentinel-pw",
        ])
        let error = #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: notSentinel).redisAdapterConfiguration(reader: notSentinel) }
        #expect(error?.key == .redisSentinelPassword)
        #expect(error?.description.contains("not a Sentinel URL") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("sentinel-pw") == false)
    }
}
