import Configuration
import Testing
@testable import switchboard
@testable import Switchboard

/// The `max_connection_age*` and `resource_guard.*` settings of `switchboard serve`.
@Suite("Policy settings")
struct PolicySettingsTests {
    @Test func offByDefault() throws {
        let configuration = try ServeSettings(reader: .serve()).serverConfiguration
        #expect(configuration.maxConnectionAge == nil)
        #expect(configuration.resourceGuard == nil)
    }

    @Test func readsEveryKey() throws {
        let settings = try ServeSettings(reader: .serve(environment: [
            "SWITCHBOARD_MAX_CONNECTION_AGE": "2h",
            "SWITCHBOARD_MAX_CONNECTION_AGE_JITTER": "10m",
            "SWITCHBOARD_RESOURCE_GUARD_MAX_CONNECTIONS": "50000",
            "SWITCHBOARD_RESOURCE_GUARD_MAX_MEMORY": "2GiB",
            "SWITCHBOARD_RESOURCE_GUARD_SUSTAIN": "30s",
            "SWITCHBOARD_RESOURCE_GUARD_SHED_RATE": "200",
        ]))
        let configuration = settings.serverConfiguration
        #expect(configuration.maxConnectionAge == ConnectionAgeLimit(age: .seconds(7200), jitter: .seconds(600)))
        #expect(configuration.resourceGuard == ResourceGuard(maxConnections: 50_000, maxMemoryBytes: 2 << 30, sustain: .seconds(30), shedRate: 200))
    }

    @Test func zeroTurnsThemOff() throws {
        let configuration = try ServeSettings(reader: .serve(environment: [
            "SWITCHBOARD_MAX_CONNECTION_AGE": "0",
            "SWITCHBOARD_RESOURCE_GUARD_MAX_CONNECTIONS": "0",
            "SWITCHBOARD_RESOURCE_GUARD_MAX_MEMORY": "0",
        ])).serverConfiguration
        #expect(configuration.maxConnectionAge == nil)
        #expect(configuration.resourceGuard == nil)
    }

    @Test("bad values name their key", arguments: [
        ("SWITCHBOARD_MAX_CONNECTION_AGE", "500ms", "max_connection_age"),
        ("SWITCHBOARD_MAX_CONNECTION_AGE_JITTER", "soon", "max_connection_age_jitter"),
        ("SWITCHBOARD_RESOURCE_GUARD_MAX_CONNECTIONS", "-3", "resource_guard.max_connections"),
        ("SWITCHBOARD_RESOURCE_GUARD_MAX_MEMORY", "1MiB", "resource_guard.max_memory"),
        ("SWITCHBOARD_RESOURCE_GUARD_SUSTAIN", "2h", "resource_guard.sustain"),
        ("SWITCHBOARD_RESOURCE_GUARD_SHED_RATE", "0", "resource_guard.shed_rate"),
    ])
    func badValues(_ variable: String, _ value: String, _ key: String) {
        #expect {
            try ServeSettings(reader: .serve(environment: [variable: value]))
        } throws: { error in
            "\(error)".contains("for \(key) (from \(variable))")
        }
    }
}
