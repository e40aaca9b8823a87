import Configuration
import Foundation
import Switchboard
import SwitchboardRedis
import Testing
@testable import switchboard

/// `ServeSettings(reader:)` and the reader `serve` builds: values through
/// swift-configuration's providers, their precedence, and errors naming
/// where a value was set.
struct SettingsReaderTests {
    /// A temporary YAML file holding `text`, and its provider.
    private static func yamlFile(_ text: String) async throws -> (path: String, provider: any ConfigProvider) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, try await FileProvider<YAMLSnapshot>(filePath: .init(stringLiteral: path)))
    }

    @Test func readsAValueFromAnInMemoryProvider() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: [
            "port": "4001",
            "limits.max_frame_size": "64KiB",
            "admin.port": 4101,
            "pubsub.adapter": "redis",
        ]))
        let settings = try ServeSettings(reader: reader)
        #expect(settings.server.port == 4001)
        #expect(settings.server.maxFrameSize == 65_536)
        #expect(settings.server.adminPort == 4101, "a value held as an integer is read as one")
        #expect(settings.pubsubAdapter == "redis")
        #expect(settings.server.host == "127.0.0.1", "a key no provider sets keeps its default")
    }

    @Test func aScopedReaderReadsTheKeysUnderItsPrefix() throws {
        let reader = ConfigReader(provider: InMemoryProvider(values: ["switchboard.port": "4002", "port": "1"]))
        #expect(try ServeSettings(reader: reader.scoped(to: "switchboard")).server.port == 4002)
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsAYAMLFile() async throws {
        let file = try await Self.yamlFile("""
            port: 4003
            node_name: file-node
            api_key: file-key
            check_origin:
              - https://example.com
              - //*.example.org
            limits:
              max_frame_size: 2048
            """)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let reader = ServeSettings.reader(
            flags: [.port: "4001"],
            environment: ["SWITCHBOARD_PORT": "4002", "SWITCHBOARD_NODE_NAME": "env-node", "HOME": "/root"],
            file: file
        )
        let settings = try ServeSettings(reader: reader)
        #expect(settings.server.port == 4001)
        #expect(settings.server.nodeName == "env-node")
        #expect(settings.server.apiKey == "file-key")
        #expect(settings.server.maxFrameSize == 2048)
        #expect(settings.checkOrigin == .allowList([try OriginPattern("https://example.com"), try OriginPattern("//*.example.org")]))
        #expect(settings.origins == [
            .port: "--port",
            .nodeName: "SWITCHBOARD_NODE_NAME",
            .apiKey: "api_key in \(file.path)",
            .checkOrigin: "check_origin in \(file.path)",
            .maxFrameSize: "limits.max_frame_size in \(file.path)",
        ])
    }

    @Test func errorsNameWhereTheValueWasSet() async throws {
        let file = try await Self.yamlFile("port: 4003\nlimits:\n  heartbeat_timeout: soon\n")
        defer { try? FileManager.default.removeItem(atPath: file.path) }

        let fromFile = #expect(throws: ServeSettingsError.self) {
            try ServeSettings(reader: ServeSettings.reader(file: file))
        }
        #expect(fromFile?.origin == "limits.heartbeat_timeout in \(file.path)")
        #expect(fromFile?.description.hasPrefix(#"invalid value "soon" for limits.heartbeat_timeout (from limits.heartbeat_timeout in \#(file.path)): "#) == true)

        let fromEnvironment = #expect(throws: ServeSettingsError.self) {
            try ServeSettings(reader: ServeSettings.reader(environment: ["SWITCHBOARD_PORT": "http"], file: file))
        }
        #expect(fromEnvironment?.description == #"invalid value "http" for port (from SWITCHBOARD_PORT): expected a whole number from 0 to 65535"#)

        let fromFlag = #expect(throws: ServeSettingsError.self) {
            try ServeSettings(reader: ServeSettings.reader(flags: [.port: "70000"], environment: ["SWITCHBOARD_PORT": "4002"]))
        }
        #expect(fromFlag?.origin == "--port")
    }

    @Test func aProviderTheReporterDoesNotKnowIsNamedByItsName() {
        let provider = InMemoryProvider(name: "app", values: ["port": "-1"])
        let reported = ConfigReader(provider: provider, accessReporter: ServeSettingsOriginReporter(origins: [:]))
        let error = #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: reported) }
        #expect(error?.description == #"invalid value "-1" for port (from InMemoryProvider[app]): expected a whole number from 0 to 65535"#)

        let named = ConfigReader(provider: provider, accessReporter: ServeSettingsOriginReporter(origins: [provider.providerName: .environment]))
        let namedError = #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: named) }
        #expect(namedError?.origin == "SWITCHBOARD_PORT")

        let unreported = #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: ConfigReader(provider: provider)) }
        #expect(unreported?.origin == "the configuration", "without the reporter, where the value was set is not known")
    }

    @Test func theRedisAdapterIsConfiguredFromTheSameReader() throws {
        let reader = ConfigReader.serve(
            flags: [.redisMode: "global", .nodeName: "node-7"],
            environment: [
                "SWITCHBOARD_PUBSUB_ADAPTER": "redis",
                "SWITCHBOARD_PUBSUB_REDIS_URL": "redis://10.0.0.5:6380/2",
                "SWITCHBOARD_PUBSUB_REDIS_PUBLISHERS": "3",
            ],
            file: ["pubsub.redis.connect_timeout": "750ms", "pubsub.redis.channel_prefix": "staging"]
        )
        let settings = try ServeSettings(reader: reader)
        let configuration = try settings.redisAdapterConfiguration(reader: reader)
        #expect(configuration.url == (try RedisURL("redis://10.0.0.5:6380/2")))
        #expect(configuration.nodeName == "node-7", "node_name when pubsub.redis.node_name is not set")
        #expect(configuration.mode == .global)
        #expect(configuration.publishers == 3)
        #expect(configuration.connectTimeout == .milliseconds(750))
        #expect(configuration.channelPrefix == "staging")
    }

    @Test func aBadRedisURLNamesWhereItWasSet() throws {
        let reader = ConfigReader.serve(environment: ["SWITCHBOARD_PUBSUB_REDIS_URL": "http://10.0.0.5"])
        let settings = try ServeSettings(reader: reader)
        let error = #expect(throws: ServeSettingsError.self) { try settings.redisAdapterConfiguration(reader: reader) }
        #expect(error?.key == .redisURL)
        #expect(error?.origin == "SWITCHBOARD_PUBSUB_REDIS_URL")
        #expect(error?.description.hasPrefix(#"invalid value "http://10.0.0.5" for pubsub.redis.url (from SWITCHBOARD_PUBSUB_REDIS_URL): "#) == true)
    }
}
