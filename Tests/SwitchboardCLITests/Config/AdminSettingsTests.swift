import Configuration
import Testing
@testable import switchboard

@testable import Switchboard

/// The `admin.*` and `drain_on_shutdown` settings of `switchboard serve`.
struct AdminSettingsTests {
    private static func error(_ reader: ConfigReader) -> ServeSettingsError? {
        do {
            _ = try ServeSettings(reader: reader)
            return nil
        } catch {
            return error
        }
    }

    @Test func namesFlagsAndEnvironmentVariables() {
        let keys: [ServeSettingKey] = [.adminHost, .adminPort, .adminToken, .drainOnShutdown]
        #expect(keys.map(\.rawValue) == ["admin.host", "admin.port", "admin.token", "drain_on_shutdown"])
        #expect(keys.map(\.environmentVariable) == [
            "SWITCHBOARD_ADMIN_HOST", "SWITCHBOARD_ADMIN_PORT", "SWITCHBOARD_ADMIN_TOKEN", "SWITCHBOARD_DRAIN_ON_SHUTDOWN",
        ])
        #expect(keys.map(\.flag) == ["--admin-host", "--admin-port", nil, nil])
        #expect(ServeSettingKey.adminToken.environmentVariable == AdminConfiguration.tokenEnvironmentVariable)
        #expect(ServeSettingKey.adminToken.isSecret)
        #expect(!ServeSettingKey.adminPort.isSecret)
    }

    @Test func defaults() throws {
        let settings = try ServeSettings(reader: .serve())
        #expect(settings.server.adminHost == "127.0.0.1")
        #expect(settings.server.adminPort == 4100)
        #expect(settings.server.adminToken == nil)
        #expect(settings.server.drainOnShutdown == .seconds(5))
        let configuration = settings.serverConfiguration
        #expect(configuration.admin.host == "127.0.0.1")
        #expect(configuration.admin.port == 4100)
        #expect(configuration.admin.token == nil)
        #expect(configuration.drainOnShutdown == .seconds(5))
    }

    @Test func flagsThenEnvironmentThenFile() throws {
        let settings = try ServeSettings(reader: .serve(
            flags: [.adminPort: "4101"],
            environment: ["SWITCHBOARD_ADMIN_TOKEN": "token-from-the-environment", "SWITCHBOARD_ADMIN_PORT": "4102"],
            file: [
                "admin.host": "0.0.0.0", "admin.port": "4103", "admin.token": "token-from-the-file-0000",
                "drain_on_shutdown": "30s",
            ]
        ))
        #expect(settings.server.adminPort == 4101)
        #expect(settings.server.adminToken == "token-from-the-environment")
        #expect(settings.server.adminHost == "0.0.0.0")
        #expect(settings.server.drainOnShutdown == .seconds(30))
        #expect(settings.origins[.adminPort] == "--admin-port")
        #expect(settings.origins[.adminToken] == "SWITCHBOARD_ADMIN_TOKEN")
        #expect(settings.origins[.adminHost] == "admin.host in /etc/switchboard.yaml")
        let configuration = settings.serverConfiguration
        #expect(configuration.admin.host == "0.0.0.0")
        #expect(configuration.admin.port == 4101)
        #expect(configuration.admin.token == "token-from-the-environment")
        #expect(configuration.admin.resolvedToken == "token-from-the-environment")
        #expect(configuration.drainOnShutdown == .seconds(30))
    }

    @Test(arguments: [
        ([ServeSettingKey.adminPort: "65536"], #"invalid value "65536" for admin.port (from --admin-port): expected a whole number from 0 to 65535"#),
        ([.adminHost: "local host"], #"invalid value "local host" for admin.host (from --admin-host): expected a host name or an IP address"#),
    ])
    func badFlags(flags: [ServeSettingKey: String], message: String) {
        #expect(Self.error(.serve(flags: flags))?.description == message)
    }

    @Test func aShortTokenIsRejectedWithoutEchoingIt() {
        let description = Self.error(.serve(environment: ["SWITCHBOARD_ADMIN_TOKEN": "short"]))?.description ?? ""
        #expect(description.hasPrefix(#"invalid value "<redacted>" for admin.token (from SWITCHBOARD_ADMIN_TOKEN): expected at least 16 characters"#))
        #expect(!description.contains("short"))
    }

    @Test func badDrainWindow() {
        #expect(
            Self.error(.serve(environment: ["SWITCHBOARD_DRAIN_ON_SHUTDOWN": "2h"]))?.description
                == #"invalid value "2h" for drain_on_shutdown (from SWITCHBOARD_DRAIN_ON_SHUTDOWN): expected a duration of at most 1h, such as 5 (seconds), "30s", "2m" or 0 (close all at once)"#
        )
    }
}
