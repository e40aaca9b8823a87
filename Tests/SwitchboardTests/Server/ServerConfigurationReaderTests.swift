import Configuration
import Switchboard
import Testing

@Suite struct ServerConfigurationReaderTests {
    private func reader(_ values: [String: ConfigValue]) -> ConfigReader {
        var keyed: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in values {
            keyed[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = value
        }
        return ConfigReader(provider: InMemoryProvider(values: keyed))
    }

    @Test func anEmptyReaderGivesTheDefaults() throws {
        let read = try ServerConfiguration(reader: reader([:]))
        let defaults = ServerConfiguration()
        #expect(read.host == defaults.host)
        #expect(read.port == defaults.port)
        #expect(read.nodeName == defaults.nodeName)
        #expect(read.apiKey == defaults.apiKey)
        #expect(read.limits.maxChannelsPerSocket == defaults.limits.maxChannelsPerSocket)
        #expect(read.limits.maxFrameSize == defaults.limits.maxFrameSize)
        #expect(read.limits.maxOutboundBytes == defaults.limits.maxOutboundBytes)
        #expect(read.limits.heartbeatTimeout == defaults.limits.heartbeatTimeout)
        #expect(read.limits.inboundMessageRate == defaults.limits.inboundMessageRate)
        #expect(read.limits.maxConnectionsPerAddress == defaults.limits.maxConnectionsPerAddress)
        #expect(read.shutdownGracePeriod == defaults.shutdownGracePeriod)
        #expect(read.drainOnShutdown == defaults.drainOnShutdown)
        #expect(read.publicHost == defaults.publicHost)
        #expect(read.trustedProxies == defaults.trustedProxies)
        #expect(read.admin.host == defaults.admin.host)
        #expect(read.admin.port == defaults.admin.port)
        #expect(read.admin.token == defaults.admin.token)
        #expect(read.maxConnectionAge == defaults.maxConnectionAge)
        #expect(read.resourceGuard == defaults.resourceGuard)
        #expect(read.metrics.onPublicListener == false)
    }

    @Test func metricsPublicIsReadAsTextOrAsABoolean() throws {
        #expect(try ServerConfiguration(reader: reader(["metrics.public": .init(.bool(true), isSecret: false)])).metrics.onPublicListener)
        #expect(try ServerConfiguration(reader: reader(["metrics.public": "yes"])).metrics.onPublicListener)
        #expect(try !ServerConfiguration(reader: reader(["metrics.public": .init(.bool(false), isSecret: false)])).metrics.onPublicListener)
        #expect(throws: ConfigurationValueError.self) { try ServerConfiguration(reader: self.reader(["metrics.public": "sometimes"])) }
    }

    @Test func valuesAreReadAsTextOrAsTheProviderHoldsThem() throws {
        let configuration = try ServerConfiguration(reader: reader([
            "host": "0.0.0.0",
            "port": .init(.int(4001), isSecret: false),
            "node_name": "node-a",
            "api_key": .init(.string("k-123"), isSecret: true),
            "limits.max_frame_size": "64KiB",
            "limits.heartbeat_timeout": "90s",
            "limits.message_rate": .init(.int(50), isSecret: false),
            "limits.max_connections_per_address": "0",
            "trusted_proxies": .init(.stringArray(["127.0.0.1", "10.0.0.0/8"]), isSecret: false),
            "admin.port": "0",
            "max_connection_age": "30m",
            "resource_guard.max_memory": "2GiB",
            "resource_guard.shed_rate": "20",
            "public_host": "  example.com  ",
            "node_name_unknown": "ignored",
        ]))
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 4001)
        #expect(configuration.nodeName == "node-a")
        #expect(configuration.apiKey == "k-123")
        #expect(configuration.limits.maxFrameSize == 65_536)
        #expect(configuration.limits.heartbeatTimeout == .seconds(90))
        #expect(configuration.limits.inboundMessageRate == MessageRate(perSecond: 50, burst: 100), "the burst defaults to twice the rate")
        #expect(configuration.limits.maxConnectionsPerAddress == nil, "0 is no limit")
        #expect(configuration.trustedProxies == TrustedProxies(parsing: "127.0.0.1, 10.0.0.0/8"))
        #expect(configuration.admin.port == 0)
        #expect(configuration.maxConnectionAge == ConnectionAgeLimit(age: .seconds(1_800)))
        #expect(configuration.resourceGuard == ResourceGuard(maxMemoryBytes: 2 << 30, shedRate: 20))
        #expect(configuration.publicHost == "example.com")
    }

    @Test func aRateOfZeroTurnsTheLimitOff() throws {
        let configuration = try ServerConfiguration(reader: reader(["limits.message_rate": "0", "limits.message_burst": "10"]))
        #expect(configuration.limits.inboundMessageRate == nil)
    }

    @Test func blankValuesAndYAMLNullsKeepTheDefaults() throws {
        let configuration = try ServerConfiguration(reader: reader(["port": "  ", "host": "~", "limits.max_frame_size": "null"]))
        #expect(configuration.port == 4000)
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.limits.maxFrameSize == 1 << 20)
    }

    @Test(arguments: [
        ("port", "70000", "expected a whole number from 0 to 65535"),
        ("limits.max_frame_size", "1MB", "expected a size in bytes"),
        ("limits.heartbeat_timeout", "0", "expected a duration above zero"),
        ("trusted_proxies", "not-an-address", "expected a comma-separated list of IP addresses"),
        ("resource_guard.max_memory", "1MiB", "at least 16MiB"),
    ])
    func aBadValueNamesItsKey(key: String, value: String, problem: String) {
        #expect {
            _ = try ServerConfiguration(reader: reader([key: .init(.string(value), isSecret: false)]))
        } throws: { error in
            guard let error = error as? ConfigurationValueError else { return false }
            return error.key == key && error.value == value && error.problem.contains(problem)
                && error.description.hasPrefix("invalid value \"\(value)\" for \(key): ")
        }
    }

    @Test func aBadSecretIsNeverRepeated() {
        #expect {
            _ = try ServerConfiguration(reader: reader(["admin.token": .init(.string("short secret"), isSecret: true)]))
        } throws: { error in
            guard let error = error as? ConfigurationValueError else { return false }
            return error.key == "admin.token" && error.value == "<redacted>" && !error.description.contains("short secret")
        }
    }

    @Test func aScopedReaderReadsItsOwnKeys() throws {
        let configuration = try ServerConfiguration(reader: reader(["switchboard.port": "4242", "port": "1"]).scoped(to: "switchboard"))
        #expect(configuration.port == 4242)
    }
}
