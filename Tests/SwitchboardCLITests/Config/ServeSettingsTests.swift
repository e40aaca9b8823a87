import Configuration
import Logging
import Testing
@testable import switchboard

@testable import Switchboard

/// Resolution and checking of `switchboard serve` settings, in-process.
struct ServeSettingsTests {
    private static func error(_ reader: ConfigReader) -> ServeSettingsError? {
        do {
            _ = try ServeSettings(reader: reader)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsWithNoSources() throws {
        let settings = try ServeSettings(reader: .serve())
        #expect(settings == ServeSettings())
        #expect(settings.server.host == "127.0.0.1")
        #expect(settings.server.port == 4000)
        #expect(settings.server.nodeName == nil)
        #expect(settings.server.apiKey == nil)
        #expect(settings.socketPath == "/socket")
        #expect(settings.logLevel == .info)
        #expect(settings.server.maxChannelsPerSocket == 100)
        #expect(settings.server.maxFrameSize == 1_048_576)
        #expect(settings.server.heartbeatTimeout == .seconds(60))
        #expect(settings.pubsubAdapter == "local")
        #expect(settings.server.shutdownGracePeriod == .seconds(10))
        #expect(settings.origins.isEmpty)
    }

    @Test func environmentVariableAndFlagNames() {
        let keys: [ServeSettingKey] = [
            .host, .port, .nodeName, .auth, .apiKey, .socketPath, .logLevel,
            .maxChannelsPerSocket, .maxFrameSize, .heartbeatTimeout, .pubsubAdapter, .shutdownGracePeriod,
        ]
        #expect(keys.map(\.rawValue) == [
            "host", "port", "node_name", "auth", "api_key", "socket_path", "log_level",
            "limits.max_channels_per_socket", "limits.max_frame_size", "limits.heartbeat_timeout",
            "pubsub.adapter", "shutdown_grace_period",
        ])
        #expect(keys.map(\.environmentVariable) == [
            "SWITCHBOARD_HOST", "SWITCHBOARD_PORT", "SWITCHBOARD_NODE_NAME", "SWITCHBOARD_AUTH",
            "SWITCHBOARD_API_KEY", "SWITCHBOARD_SOCKET_PATH", "SWITCHBOARD_LOG_LEVEL",
            "SWITCHBOARD_LIMITS_MAX_CHANNELS_PER_SOCKET", "SWITCHBOARD_LIMITS_MAX_FRAME_SIZE",
            "SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT", "SWITCHBOARD_PUBSUB_ADAPTER", "SWITCHBOARD_SHUTDOWN_GRACE_PERIOD",
        ])
        #expect(ServeSettingKey.host.flag == "--host")
        #expect(ServeSettingKey.port.flag == "--port")
        #expect(ServeSettingKey.nodeName.flag == "--node")
        #expect(ServeSettingKey.auth.flag == "--auth")
        #expect(ServeSettingKey.apiKey.flag == "--api-key")
        #expect(ServeSettingKey.logLevel.flag == "--log-level")
        #expect(ServeSettingKey.maxFrameSize.flag == nil)
        #expect(ServeSettingKey.maxFrameSize.components == ["limits", "max_frame_size"])
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() throws {
        let settings = try ServeSettings(reader: .serve(
            flags: [.port: "4001"],
            environment: ["SWITCHBOARD_PORT": "4002", "SWITCHBOARD_NODE_NAME": "env-node"],
            file: ["port": "4003", "node_name": "file-node", "api_key": "file-key"]
        ))
        #expect(settings.server.port == 4001)
        #expect(settings.server.nodeName == "env-node")
        #expect(settings.server.apiKey == "file-key")
        #expect(settings.origins == [
            .port: "--port",
            .nodeName: "SWITCHBOARD_NODE_NAME",
            .apiKey: "api_key in /etc/switchboard.yaml",
        ])
    }

    @Test func everyKeyFromTheFile() throws {
        let values = [
                "host": "0.0.0.0",
                "port": "0",
                "node_name": "node-a.eu:1@x",
                "auth": "NONE",
                "api_key": "s3cret",
                "socket_path": "/live/socket",
                "log_level": "Debug",
                "limits.max_channels_per_socket": "7",
                "limits.max_frame_size": "64KiB",
                "limits.max_outbound_bytes": "8MiB",
                "limits.heartbeat_timeout": "2m",
                "pubsub.adapter": "local",
                "shutdown_grace_period": "1.5",
            ]
        let settings = try ServeSettings(reader: .serve(file: values))
        var expected = ServeSettings()
        expected.server.host = "0.0.0.0"
        expected.server.port = 0
        expected.server.nodeName = "node-a.eu:1@x"
        expected.server.apiKey = "s3cret"
        expected.socketPath = "/live/socket"
        expected.logLevel = .debug
        expected.server.maxChannelsPerSocket = 7
        expected.server.maxFrameSize = 65_536
        expected.server.maxOutboundBytes = 8 << 20
        expected.server.heartbeatTimeout = .seconds(120)
        expected.server.shutdownGracePeriod = .milliseconds(1_500)
        expected.auth = .none
        expected.origins = Dictionary(uniqueKeysWithValues: values.keys.map { (ServeSettingKey(rawValue: $0)!, "\($0) in /etc/switchboard.yaml") })
        expected.values = Dictionary(uniqueKeysWithValues: values.map { key, text in
            (ServeSettingKey(rawValue: key)!, ServeSettingValue(
                text: text, originName: "\(key) in /etc/switchboard.yaml", origin: .file(path: "/etc/switchboard.yaml")
            ))
        })
        #expect(settings == expected)
    }

    @Test func emptyValuesAndYAMLNullsCountAsUnset() throws {
        let settings = try ServeSettings(reader: .serve(
            flags: [.apiKey: ""],
            environment: ["SWITCHBOARD_API_KEY": "  ", "SWITCHBOARD_PORT": " 4100 "],
            file: ["api_key": "~", "node_name": "null", "host": ""]
        ))
        #expect(settings.server.apiKey == nil)
        #expect(settings.server.nodeName == nil)
        #expect(settings.server.host == "127.0.0.1")
        #expect(settings.server.port == 4100)
    }

    @Test(arguments: [
        ([ServeSettingKey.port: "-1"], #"invalid value "-1" for port (from --port): expected a whole number from 0 to 65535"#),
        ([.port: "65536"], #"invalid value "65536" for port (from --port): expected a whole number from 0 to 65535"#),
        ([.port: "4k"], #"invalid value "4k" for port (from --port): expected a whole number from 0 to 65535"#),
        ([.auth: "basic"], #"invalid value "basic" for auth (from --auth): expected one of: "# + ServeSettings.AuthMode.allCases.map(\.rawValue).joined(separator: ", ")),
        ([.logLevel: "loud"], #"invalid value "loud" for log_level (from --log-level): expected one of: trace, debug, info, notice, warning, error, critical"#),
        ([.nodeName: "two words"], #"invalid value "two words" for node_name (from --node): expected at most 255 letters, digits, '.', '_', '-', ':' or '@'"#),
        ([.host: "local host"], #"invalid value "local host" for host (from --host): expected a host name or an IP address"#),
        ([.apiKey: "a b"], #"invalid value "<redacted>" for api_key (from --api-key): must not contain spaces or control characters"#),
    ])
    func badFlagsNameTheKeyAndTheFlag(flags: [ServeSettingKey: String], message: String) {
        #expect(Self.error(.serve(flags: flags))?.description == message)
    }

    @Test(arguments: [
        ("SWITCHBOARD_PUBSUB_ADAPTER", "pigeon", #"invalid value "pigeon" for pubsub.adapter (from SWITCHBOARD_PUBSUB_ADAPTER): expected one of: "# + ServeSettings.pubsubAdapters.joined(separator: ", ")),
        ("SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT", "soon", #"invalid value "soon" for limits.heartbeat_timeout (from SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT): expected a duration above zero and at most 24h, such as 60 (seconds), "60s", "2m" or "500ms""#),
        ("SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT", "0s", #"invalid value "0s" for limits.heartbeat_timeout (from SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT): expected a duration above zero and at most 24h, such as 60 (seconds), "60s", "2m" or "500ms""#),
        ("SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT", "25h", #"invalid value "25h" for limits.heartbeat_timeout (from SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT): expected a duration above zero and at most 24h, such as 60 (seconds), "60s", "2m" or "500ms""#),
        ("SWITCHBOARD_SHUTDOWN_GRACE_PERIOD", "-1", #"invalid value "-1" for shutdown_grace_period (from SWITCHBOARD_SHUTDOWN_GRACE_PERIOD): expected a duration of at most 24h, such as 10 (seconds), "10s", "1m" or "0""#),
        ("SWITCHBOARD_LIMITS_MAX_FRAME_SIZE", "0", #"invalid value "0" for limits.max_frame_size (from SWITCHBOARD_LIMITS_MAX_FRAME_SIZE): expected a size in bytes from 1 to 4294967295, such as 1048576, "64KiB" or "1MiB""#),
        ("SWITCHBOARD_LIMITS_MAX_FRAME_SIZE", "4GiB", #"invalid value "4GiB" for limits.max_frame_size (from SWITCHBOARD_LIMITS_MAX_FRAME_SIZE): expected a size in bytes from 1 to 4294967295, such as 1048576, "64KiB" or "1MiB""#),
        ("SWITCHBOARD_LIMITS_MAX_OUTBOUND_BYTES", "1KiB", #"invalid value "1KiB" for limits.max_outbound_bytes (from SWITCHBOARD_LIMITS_MAX_OUTBOUND_BYTES): expected a size in bytes from 65536 to 4294967295, such as 4194304 or "4MiB""#),
        ("SWITCHBOARD_LIMITS_MAX_CHANNELS_PER_SOCKET", "0", #"invalid value "0" for limits.max_channels_per_socket (from SWITCHBOARD_LIMITS_MAX_CHANNELS_PER_SOCKET): expected a whole number from 1 to 1000000"#),
        ("SWITCHBOARD_SOCKET_PATH", "socket", #"invalid value "socket" for socket_path (from SWITCHBOARD_SOCKET_PATH): expected a path such as /socket: a '/' then letters, digits, '-', '_', '.' or '/'"#),
        ("SWITCHBOARD_SOCKET_PATH", "/a?b", #"invalid value "/a?b" for socket_path (from SWITCHBOARD_SOCKET_PATH): expected a path such as /socket: a '/' then letters, digits, '-', '_', '.' or '/'"#),
    ])
    func badEnvironmentValuesNameTheKeyAndTheVariable(variable: String, value: String, message: String) {
        #expect(Self.error(.serve(environment: [variable: value]))?.description == message)
    }

    @Test func badFileValueNamesTheFile() {
        #expect(
            Self.error(.serve(file: ["port": "-5"]))?.description
                == #"invalid value "-5" for port (from port in /etc/switchboard.yaml): expected a whole number from 0 to 65535"#
        )
    }

    @Test func unreadableValueNamesTheKey() {
        #expect(
            Self.error(.serve(fileValues: ["shutdown_grace_period": .stringArray(["1", "2"])]))?.description
                == "cannot read shutdown_grace_period (from shutdown_grace_period in /etc/switchboard.yaml): expected a single value, not a list or a mapping"
        )
    }

    @Test func theFirstBadValueWinsButAHigherSourceHidesALowerOne() throws {
        // The environment's good port hides the file's bad one.
        let settings = try ServeSettings(reader: .serve(environment: ["SWITCHBOARD_PORT": "4005"], file: ["port": "-5"]))
        #expect(settings.server.port == 4005)
    }

    @Test(arguments: [
        ("60", Duration.seconds(60)),
        ("60s", .seconds(60)),
        ("2m", .seconds(120)),
        ("1h", .seconds(3_600)),
        ("500ms", .milliseconds(500)),
        ("1.5s", .milliseconds(1_500)),
        ("90 s", .seconds(90)),
        ("0", .zero),
    ])
    func durations(text: String, expected: Duration) {
        #expect(SettingText.duration(text) == expected)
    }

    @Test(arguments: ["", "s", "-1s", "1d", "1.s", ".5s", "1e3", "1 m s", "60S", "1..2s"])
    func unparsableDurations(text: String) {
        #expect(SettingText.duration(text) == nil)
    }

    @Test(arguments: [
        ("1048576", 1_048_576),
        ("512B", 512),
        ("64KiB", 65_536),
        ("64 kib", 65_536),
        ("1MiB", 1_048_576),
        ("2GiB", 2_147_483_648),
    ])
    func byteSizes(text: String, expected: Int) {
        #expect(SettingText.byteSize(text) == expected)
    }

    @Test(arguments: ["", "MiB", "1MB", "1.5MiB", "-1", "1 M", "99999999999999999999"])
    func unparsableByteSizes(text: String) {
        #expect(SettingText.byteSize(text) == nil)
    }

    @Test func serveSetsEveryKeyTheServerReads() {
        let serveKeys = Dictionary(uniqueKeysWithValues: ServeSettingKey.allCases.map { ($0.rawValue, $0) })
        for key in ServerSettings.Key.allCases {
            #expect(serveKeys[key.rawValue] != nil, "\(key.rawValue) is a server key serve cannot set")
            #expect(serveKeys[key.rawValue]?.isSecret == key.isSecret, "\(key.rawValue): secret in one place only")
        }
    }

    @Test func presenceIsOffUnlessTurnedOn() throws {
        #expect(try ServeSettings(reader: .serve(environment: [:])).presence == false)
        #expect(try ServeSettings(reader: .serve(environment: ["SWITCHBOARD_PRESENCE": "true"])).presence)
        #expect(Self.error(.serve(environment: ["SWITCHBOARD_PRESENCE": "maybe"]))?.description
            == #"invalid value "maybe" for presence (from SWITCHBOARD_PRESENCE): expected true or false"#)
    }

    @Test func longPollIsServedUnlessTurnedOff() throws {
        #expect(try ServeSettings(reader: .serve(environment: [:])).endpoint.longPoll == LongPollOptions())
        let off = try ServeSettings(reader: .serve(environment: ["SWITCHBOARD_LONGPOLL": "false"]))
        #expect(off.endpoint.longPoll == nil)
        #expect(Self.error(.serve(environment: ["SWITCHBOARD_LONGPOLL": "maybe"]))?.description
            == #"invalid value "maybe" for longpoll (from SWITCHBOARD_LONGPOLL): expected true or false"#)
    }

    @Test func serverConfigurationCarriesTheSettings() throws {
        let settings = try ServeSettings(reader: .serve(environment: [
            "SWITCHBOARD_AUTH": "none",
            "SWITCHBOARD_HOST": "0.0.0.0",
            "SWITCHBOARD_PORT": "4100",
            "SWITCHBOARD_NODE_NAME": "n1",
            "SWITCHBOARD_API_KEY": "k",
            "SWITCHBOARD_SOCKET_PATH": "/live",
            "SWITCHBOARD_LIMITS_MAX_CHANNELS_PER_SOCKET": "3",
            "SWITCHBOARD_LIMITS_MAX_FRAME_SIZE": "2048",
            "SWITCHBOARD_LIMITS_HEARTBEAT_TIMEOUT": "30s",
            "SWITCHBOARD_SHUTDOWN_GRACE_PERIOD": "2s",
        ]))
        let configuration = settings.serverConfiguration
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 4100)
        #expect(configuration.nodeName == "n1")
        #expect(configuration.apiKey == "k")
        #expect(configuration.limits.maxChannelsPerSocket == 3)
        #expect(configuration.limits.maxFrameSize == 2048)
        #expect(configuration.limits.heartbeatTimeout == .seconds(30))
        #expect(configuration.shutdownGracePeriod == .seconds(2))
        #expect(Set(configuration.pages.keys) == ["/", "/favicon.ico"])
        #expect(configuration.pages["/favicon.ico"]?.contentType == "image/svg+xml")
        #expect(configuration.pages["/"]?.contentType == "text/html; charset=utf-8")
        #expect(configuration.pages["/"]?.body.contains(#"const SOCKET_PATH = "/live";"#) == true)
        #expect(settings.endpoint.path == "/live")
    }

    @Test func theDemoPageIsServedOnlyWithoutAuthentication() {
        var settings = ServeSettings()
        settings.auth = .token
        #expect(settings.serverConfiguration.pages.isEmpty)
        settings.auth = .none
        #expect(settings.serverConfiguration.pages["/"]?.body.hasPrefix("<!doctype html>") == true)
    }
}
