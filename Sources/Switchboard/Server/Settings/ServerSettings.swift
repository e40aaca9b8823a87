/// The settings of a ``ServerConfiguration`` that configuration text can
/// set, one field per key, each checked as it is set. Read by
/// ``ServerConfiguration/init(reader:)``, and by the command-line server for
/// the same keys, so both accept and refuse the same values.
package struct ServerSettings: Sendable, Equatable {
    /// A key, named as in a YAML file (nested keys joined with dots).
    package enum Key: String, Sendable, CaseIterable {
        case host
        case port
        case nodeName = "node_name"
        case apiKey = "api_key"
        case maxChannelsPerSocket = "limits.max_channels_per_socket"
        case maxFrameSize = "limits.max_frame_size"
        case maxOutboundBytes = "limits.max_outbound_bytes"
        case heartbeatTimeout = "limits.heartbeat_timeout"
        case maxConnectionsPerAddress = "limits.max_connections_per_address"
        case messageRate = "limits.message_rate"
        case messageBurst = "limits.message_burst"
        case shutdownGracePeriod = "shutdown_grace_period"
        case drainOnShutdown = "drain_on_shutdown"
        case publicHost = "public_host"
        case trustedProxies = "trusted_proxies"
        case adminHost = "admin.host"
        case adminPort = "admin.port"
        case adminToken = "admin.token"
        case maxConnectionAge = "max_connection_age"
        case maxConnectionAgeJitter = "max_connection_age_jitter"
        case guardMaxConnections = "resource_guard.max_connections"
        case guardMaxMemory = "resource_guard.max_memory"
        case guardSustain = "resource_guard.sustain"
        case guardShedRate = "resource_guard.shed_rate"
        case metricsPublic = "metrics.public"

        /// Whether the value is a secret, never repeated in messages.
        package var isSecret: Bool { self == .adminToken || self == .apiKey }
        /// Whether the key takes a list (a YAML sequence, or comma-separated text).
        package var acceptsList: Bool { self == .trustedProxies }
    }

    package var host = "127.0.0.1"
    package var port = 4000
    package var nodeName: String?
    package var apiKey: String?
    package var maxChannelsPerSocket = 100
    package var maxFrameSize = 1 << 20
    package var maxOutboundBytes = 4 << 20
    package var heartbeatTimeout = Duration.seconds(60)
    /// `nil` (or 0 in the text): no limit.
    package var maxConnectionsPerAddress: Int?
    /// Messages a second; 0: no limit.
    package var messageRate = 200
    /// Twice the rate when `nil`.
    package var messageBurst: Int?
    package var shutdownGracePeriod = Duration.seconds(10)
    package var drainOnShutdown = Duration.seconds(5)
    package var publicHost = "localhost"
    package var trustedProxies = TrustedProxies()
    package var adminHost = "127.0.0.1"
    package var adminPort = 4100
    package var adminToken: String?
    /// `nil` (or 0 in the text): off.
    package var maxConnectionAge: Duration?
    /// A tenth of the age when `nil`.
    package var maxConnectionAgeJitter: Duration?
    /// `nil` (or 0 in the text): not watched.
    package var guardMaxConnections: Int?
    /// `nil` (or 0 in the text): not watched.
    package var guardMaxMemory: Int?
    package var guardSustain = Duration.seconds(10)
    package var guardShedRate = 100
    /// Whether the public listener serves `/metrics` too.
    package var metricsPublic = false

    package init() {}

    /// What is wrong with a value, as a phrase (`expected a whole number from 0 to 65535`).
    package struct Problem: Error, Sendable {
        package var text: String
        init(_ text: String) { self.text = text }
    }

    /// The longest duration most settings take.
    private static let longestDuration = Duration.seconds(86_400)

    /// Parses `value` (trimmed, not blank) into the field for `key`.
    package mutating func apply(_ key: Key, value: String) throws(Problem) {
        switch key {
        case .host:
            guard !value.contains(where: \.isWhitespace) else { throw Problem("expected a host name or an IP address") }
            host = value
        case .port:
            port = try Self.port(value)
        case .nodeName:
            guard value.utf8.count <= 255, value.unicodeScalars.allSatisfy(SettingText.isNodeNameCharacter) else {
                throw Problem("expected at most 255 letters, digits, '.', '_', '-', ':' or '@'")
            }
            nodeName = value
        case .apiKey:
            guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw Problem("must not contain spaces or control characters")
            }
            apiKey = value
        case .maxChannelsPerSocket:
            guard let count = SettingText.integer(value), (1...1_000_000).contains(count) else {
                throw Problem("expected a whole number from 1 to 1000000")
            }
            maxChannelsPerSocket = count
        case .maxFrameSize:
            guard let size = SettingText.byteSize(value), (1...Int(UInt32.max)).contains(size) else {
                throw Problem("expected a size in bytes from 1 to 4294967295, such as 1048576, \"64KiB\" or \"1MiB\"")
            }
            maxFrameSize = size
        case .maxOutboundBytes:
            guard let size = SettingText.byteSize(value), (64 * 1024...Int(UInt32.max)).contains(size) else {
                throw Problem("expected a size in bytes from 65536 to 4294967295, such as 4194304 or \"4MiB\"")
            }
            maxOutboundBytes = size
        case .heartbeatTimeout:
            guard let duration = SettingText.duration(value), duration > .zero, duration <= Self.longestDuration else {
                throw Problem("expected a duration above zero and at most 24h, such as 60 (seconds), \"60s\", \"2m\" or \"500ms\"")
            }
            heartbeatTimeout = duration
        case .maxConnectionsPerAddress:
            guard let count = SettingText.integer(value), (0...1_000_000).contains(count) else {
                throw Problem("expected a whole number from 0 (no limit) to 1000000")
            }
            maxConnectionsPerAddress = count == 0 ? nil : count
        case .messageRate:
            guard let count = SettingText.integer(value), (0...1_000_000).contains(count) else {
                throw Problem("expected messages a second, a whole number from 0 (no limit) to 1000000")
            }
            messageRate = count
        case .messageBurst:
            guard let count = SettingText.integer(value), (1...1_000_000).contains(count) else {
                throw Problem("expected a whole number from 1 to 1000000")
            }
            messageBurst = count
        case .shutdownGracePeriod:
            guard let duration = SettingText.duration(value), duration <= Self.longestDuration else {
                throw Problem("expected a duration of at most 24h, such as 10 (seconds), \"10s\", \"1m\" or \"0\"")
            }
            shutdownGracePeriod = duration
        case .drainOnShutdown:
            guard let duration = SettingText.duration(value), duration <= .seconds(3_600) else {
                throw Problem("expected a duration of at most 1h, such as 5 (seconds), \"30s\", \"2m\" or 0 (close all at once)")
            }
            drainOnShutdown = duration
        case .publicHost:
            guard let (host, _) = Origin.authority(value), !host.isEmpty else {
                throw Problem("expected a host name such as example.com")
            }
            publicHost = host
        case .trustedProxies:
            guard let proxies = TrustedProxies(parsing: value) else {
                throw Problem("expected a comma-separated list of IP addresses or networks, such as \"127.0.0.1, 10.0.0.0/8\"")
            }
            trustedProxies = proxies
        case .adminHost:
            guard !value.contains(where: \.isWhitespace) else { throw Problem("expected a host name or an IP address") }
            adminHost = value
        case .adminPort:
            adminPort = try Self.port(value)
        case .adminToken:
            guard value.utf8.count >= 16, value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw Problem("expected at least 16 characters without spaces or control characters, e.g. from `openssl rand -hex 24`")
            }
            adminToken = value
        case .maxConnectionAge:
            guard let duration = SettingText.duration(value), duration == .zero || duration >= .seconds(1) else {
                throw Problem("expected a duration of at least 1s, such as \"30m\" or \"6h\", or 0 (off)")
            }
            maxConnectionAge = duration == .zero ? nil : duration
        case .maxConnectionAgeJitter:
            guard let duration = SettingText.duration(value) else {
                throw Problem("expected a duration such as \"5m\" (at most max_connection_age)")
            }
            maxConnectionAgeJitter = duration
        case .guardMaxConnections:
            guard let count = SettingText.integer(value), (0...10_000_000).contains(count) else {
                throw Problem("expected a whole number from 0 (not watched) to 10000000")
            }
            guardMaxConnections = count == 0 ? nil : count
        case .guardMaxMemory:
            guard let size = SettingText.byteSize(value), size == 0 || size >= 16 << 20 else {
                throw Problem("expected a size of at least 16MiB, such as \"2GiB\" or \"512MiB\", or 0 (not watched)")
            }
            guardMaxMemory = size == 0 ? nil : size
        case .guardSustain:
            guard let duration = SettingText.duration(value), duration <= .seconds(3_600) else {
                throw Problem("expected a duration of at most 1h, such as \"10s\"")
            }
            guardSustain = duration
        case .guardShedRate:
            guard let count = SettingText.integer(value), (1...100_000).contains(count) else {
                throw Problem("expected connections a second, a whole number from 1 to 100000")
            }
            guardShedRate = count
        case .metricsPublic:
            guard let flag = SettingText.flag(value) else { throw Problem("expected true or false") }
            metricsPublic = flag
        }
    }

    private static func port(_ value: String) throws(Problem) -> Int {
        guard let port = SettingText.integer(value), (0...65_535).contains(port) else {
            throw Problem("expected a whole number from 0 to 65535")
        }
        return port
    }

    /// These settings on top of `base` (the fields no key sets stay as they are in `base`).
    package func configuration(base: ServerConfiguration = ServerConfiguration()) -> ServerConfiguration {
        var configuration = base
        configuration.host = host
        configuration.port = port
        configuration.nodeName = nodeName
        configuration.apiKey = apiKey
        configuration.limits.maxChannelsPerSocket = maxChannelsPerSocket
        configuration.limits.maxFrameSize = maxFrameSize
        configuration.limits.maxOutboundBytes = maxOutboundBytes
        configuration.limits.heartbeatTimeout = heartbeatTimeout
        configuration.limits.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.limits.inboundMessageRate =
            messageRate > 0 ? MessageRate(perSecond: messageRate, burst: messageBurst ?? 2 * messageRate) : nil
        configuration.shutdownGracePeriod = shutdownGracePeriod
        configuration.drainOnShutdown = drainOnShutdown
        configuration.publicHost = publicHost
        configuration.trustedProxies = trustedProxies
        configuration.admin.host = adminHost
        configuration.admin.port = adminPort
        configuration.admin.token = adminToken
        configuration.maxConnectionAge = maxConnectionAge.map { ConnectionAgeLimit(age: $0, jitter: maxConnectionAgeJitter) }
        configuration.metrics.onPublicListener = metricsPublic
        if guardMaxConnections != nil || guardMaxMemory != nil {
            configuration.resourceGuard = ResourceGuard(
                maxConnections: guardMaxConnections, maxMemoryBytes: guardMaxMemory, sustain: guardSustain, shedRate: guardShedRate
            )
        }
        return configuration
    }
}
