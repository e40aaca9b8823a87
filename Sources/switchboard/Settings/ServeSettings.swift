import Configuration
import Switchboard
import FoundationEssentials
import Logging

/// The settings of `switchboard serve`, read from a swift-configuration
/// `ConfigReader` — for `serve`, one over the flags, then the environment,
/// then the YAML file; the defaults for what none of them sets — and checked
/// before anything starts.
///
/// ```swift
/// let reader = ServeSettings.reader(flags: [.port: "4001"], environment: ProcessInfo.processInfo.environment)
/// let settings = try ServeSettings(reader: reader)
/// let server = SwitchboardServer(configuration: settings.serverConfiguration, endpoints: [settings.endpoint])
/// ```
public struct ServeSettings: Sendable, Equatable {
    /// How sockets authenticate (`auth`).
    public enum AuthMode: String, Sendable, CaseIterable {
        /// Every connection is accepted and `user_id` comes from the connect
        /// params (``DemoSocket``); for local demos only.
        case none
        /// Signed tokens (``TokenSocket``): the default.
        case token
    }

    /// `host`: address to listen on.
    public var host = "127.0.0.1"
    /// `port`: port to listen on (0 picks a free one).
    public var port = 4000
    /// `node_name`: this node's name; generated when `nil`.
    public var nodeName: String?
    /// `auth`: how sockets authenticate.
    public var auth = AuthMode.token
    /// `api_key`: the key `POST /api/broadcast` requires; the endpoint is off without one.
    public var apiKey: String?
    /// `socket_path`: where clients connect (`<socket_path>/websocket`).
    public var socketPath = "/socket"
    /// `log_level`: the lowest level logged.
    public var logLevel = Logger.Level.info
    /// `limits.max_channels_per_socket`.
    public var maxChannelsPerSocket = 100
    /// `limits.max_frame_size`, in bytes.
    public var maxFrameSize = 1 << 20
    /// `limits.max_outbound_bytes`: bytes queued for a client that does not
    /// read before its connection is closed (code 4008).
    public var maxOutboundBytes = 4 << 20
    /// `limits.heartbeat_timeout`: silence after which a connection is closed.
    public var heartbeatTimeout = Duration.seconds(60)
    /// `pubsub.adapter`: how broadcasts reach other nodes.
    public var pubsubAdapter = "local"
    /// `pubsub.redis.url`: `redis://[[user]:password@]host[:port][/db]`,
    /// checked by the Redis adapter (this module does not parse it).
    public var redisURL = "redis://127.0.0.1:6379/0"
    /// `pubsub.redis.node_name`: this node's name in the Redis cluster; `node_name`, else
    /// derived from the host name and port, when `nil`.
    public var redisNodeName: String?
    /// `pubsub.redis.channel_prefix`: prefix of the Redis channel names, so clusters can share a Redis.
    public var redisChannelPrefix = "switchboard"
    /// `pubsub.redis.mode`: `per_topic` or `global`.
    public var redisMode = "per_topic"
    /// `pubsub.redis.publishers`: publisher connections.
    public var redisPublishers = 1
    /// `pubsub.redis.connect_timeout`.
    public var redisConnectTimeout = Duration.seconds(5)
    /// `pubsub.redis.outage_buffer`: messages kept per publisher connection while Redis is away; 0 drops them.
    public var redisOutageBuffer = 0
    /// `shutdown_grace_period`: how long a shutdown waits for sockets to close.
    public var shutdownGracePeriod = Duration.seconds(10)
    /// `secret_key_base` (best from `SWITCHBOARD_SECRET_KEY_BASE`): signs and
    /// verifies HS256 socket tokens. Never printed.
    public var secretKeyBase: SecretKeyBase?
    /// `token.namespace`: the `aud` socket tokens must carry.
    public var tokenNamespace = "user_socket"
    /// `token.max_age`: the oldest `iat` accepted, whatever `exp` says.
    public var tokenMaxAge = Duration.seconds(86_400)
    /// `token.clock_skew`: tolerance for clocks that disagree.
    public var tokenClockSkew = Duration.seconds(30)
    /// `token.public_key_file`: a PEM RSA or P-256 public key (or
    /// certificate); when set, tokens are verified RS256 / ES256 with it
    /// instead of HS256 with `secret_key_base`.
    public var tokenPublicKeyFile: String?
    /// `check_origin`: `true`, `false`, `conn` or a list of origins.
    public var checkOrigin = CheckOrigin.conn
    /// `compress`: offer permessage-deflate to WebSocket clients that ask for it.
    public var compress = false
    /// `public_host`: the host clients reach this node by, for `check_origin: true`.
    public var publicHost = "localhost"
    /// `trusted_proxies`: addresses and networks whose `X-Forwarded-*` headers are believed.
    public var trustedProxies = TrustedProxies()
    /// `limits.max_connections_per_address`: `nil` (or 0) for no limit.
    public var maxConnectionsPerAddress: Int?
    /// `limits.message_rate`: inbound messages a second per connection; 0 for no limit.
    public var messageRate = 200
    /// `limits.message_burst`: messages accepted at once; twice the rate when `nil`.
    public var messageBurst: Int?
    /// `admin.host`: address of the admin listener.
    public var adminHost = "127.0.0.1"
    /// `admin.port`: port of the admin listener (0 picks a free one).
    public var adminPort = 4100
    /// `admin.token` (best from `SWITCHBOARD_ADMIN_TOKEN`): the bearer token
    /// of the admin API, which is off without one. Never printed.
    public var adminToken: String?
    /// `drain_on_shutdown`: on SIGTERM, the window over which every
    /// connection is shed before the node stops.
    public var drainOnShutdown = Duration.seconds(5)
    /// `max_connection_age`: connections older than this are shed (code
    /// 1012) so the cluster rebalances by itself; `nil` (or 0): off.
    public var maxConnectionAge: Duration?
    /// `max_connection_age_jitter`: each connection's age limit differs by up
    /// to this much either way; a tenth of the age when `nil`.
    public var maxConnectionAgeJitter: Duration?
    /// `resource_guard.max_connections`: the guard engages above it; `nil` (or 0): not watched.
    public var guardMaxConnections: Int?
    /// `resource_guard.max_memory`: resident bytes above which the guard engages; `nil` (or 0): not watched.
    public var guardMaxMemory: Int?
    /// `resource_guard.sustain`: how long a threshold must be exceeded first.
    public var guardSustain = Duration.seconds(10)
    /// `resource_guard.shed_rate`: connections shed a second at most while the guard is engaged.
    public var guardShedRate = 100
    /// Where each setting that is not a default came from (`"SWITCHBOARD_PORT"`).
    public var origins: [ServeSettingKey: String] = [:]

    /// The `pubsub.adapter` values this build accepts.
    public static let pubsubAdapters = ["local", "redis"]
    /// The `pubsub.redis.mode` values.
    public static let redisModes = ["per_topic", "global"]

    /// The defaults.
    public init() {}

    /// Reads every key through `reader` (keys as in the YAML file:
    /// `limits.max_frame_size`), as Hummingbird's
    /// `ApplicationConfiguration(reader:)` does; keys that no provider sets
    /// keep their defaults, and so do blank values.
    ///
    /// Build the reader with ``reader(flags:environment:file:)`` (or give
    /// it a ``ServeSettingsOriginReporter``) for errors and ``origins`` to
    /// name where each value was set (`--port`, `SWITCHBOARD_PORT`, `port in
    /// /etc/switchboard.yaml`).
    ///
    /// - Throws: the first value that cannot be used, naming its key and where it was set.
    public init(reader: ConfigReader) throws(ServeSettingsError) {
        let recorder = ServeSettingsReadRecorder()
        let result = ServeSettingsReadRecorder.$current.withValue(recorder) {
            Result { () throws(ServeSettingsError) -> ServeSettings in
                var settings = ServeSettings()
                for key in ServeSettingKey.allCases {
                    guard let (value, origin) = try Self.read(key, from: reader, recorder: recorder) else { continue }
                    settings.origins[key] = origin
                    try settings.apply(key, value: value, origin: origin)
                }
                return settings
            }
        }
        self = try result.get()
    }

    /// The server configuration these settings describe; with `auth: none`
    /// it serves the demo chat page (``DemoPage``) at `/`.
    public var serverConfiguration: ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.nodeName = nodeName
        configuration.apiKey = apiKey
        configuration.limits.maxChannelsPerSocket = maxChannelsPerSocket
        configuration.limits.maxFrameSize = maxFrameSize
        configuration.limits.maxOutboundBytes = maxOutboundBytes
        configuration.limits.heartbeatTimeout = heartbeatTimeout
        configuration.shutdownGracePeriod = shutdownGracePeriod
        configuration.drainOnShutdown = drainOnShutdown
        configuration.maxConnectionAge = maxConnectionAge.map { ConnectionAgeLimit(age: $0, jitter: maxConnectionAgeJitter) }
        if guardMaxConnections != nil || guardMaxMemory != nil {
            configuration.resourceGuard = ResourceGuard(
                maxConnections: guardMaxConnections, maxMemoryBytes: guardMaxMemory, sustain: guardSustain, shedRate: guardShedRate
            )
        }
        configuration.admin.host = adminHost
        configuration.admin.port = adminPort
        configuration.admin.token = adminToken
        configuration.publicHost = publicHost
        configuration.trustedProxies = trustedProxies
        configuration.limits.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.limits.inboundMessageRate =
            messageRate > 0 ? MessageRate(perSecond: messageRate, burst: messageBurst ?? 2 * messageRate) : nil
        if auth == .none {
            configuration.pages["/"] = StaticPage(body: DemoPage.html(socketPath: socketPath))
        }
        return configuration
    }

    /// The built-in channels at ``socketPath`` with ``DemoSocket`` (`auth:
    /// none`) and ``checkOrigin``. ``makeEndpoint(logger:)`` honours ``auth``.
    public var endpoint: SocketEndpoint {
        var endpoint = BuiltIn.endpoint(path: socketPath)
        endpoint.checkOrigin = checkOrigin
        endpoint.compress = compress
        return endpoint
    }

    /// The built-in endpoint these settings describe: ``TokenSocket`` with
    /// `auth: token` (HS256 with ``secretKeyBase``, or RS256 / ES256 with the
    /// key in ``tokenPublicKeyFile``), ``DemoSocket`` with `auth: none`.
    ///
    /// - Throws: when `auth: token` has neither key, or the key file cannot be used.
    public func makeEndpoint(logger: Logger) async throws(ServeSettingsError) -> SocketEndpoint {
        var endpoint = self.endpoint
        if auth == .token {
            endpoint.socket = TokenSocket(verifier: try await tokenVerifier(), logger: logger)
        }
        return endpoint
    }

    /// The verifier for `auth: token`.
    public func tokenVerifier() async throws(ServeSettingsError) -> TokenVerifier {
        if let path = tokenPublicKeyFile {
            let origin = origins[.tokenPublicKeyFile] ?? ServeSettingKey.tokenPublicKeyFile.rawValue
            func problem(_ text: String) -> ServeSettingsError {
                ServeSettingsError(key: .tokenPublicKeyFile, origin: origin, value: path, problem: text)
            }
            guard let pem = Self.readKeyFile(path) else {
                throw problem("cannot read it: expected a readable PEM file of at most 64 KiB")
            }
            do {
                return try await TokenVerifier(publicKeyPEM: pem, namespace: tokenNamespace, maxAge: tokenMaxAge, clockSkew: tokenClockSkew)
            } catch {
                throw problem(error.description)
            }
        }
        guard let secretKeyBase else {
            throw ServeSettingsError(
                key: .secretKeyBase, origin: ServeSettingKey.secretKeyBase.environmentVariable, value: nil,
                problem: "not set; auth token needs secret_key_base (at least \(SecretKeyBase.minimumLength) bytes, e.g. from `openssl rand -base64 48`) or token.public_key_file; use auth none for local demos only"
            )
        }
        return await TokenVerifier(secretKeyBase: secretKeyBase, namespace: tokenNamespace, maxAge: tokenMaxAge, clockSkew: tokenClockSkew)
    }

    /// The text of a small regular file, `nil` if it is missing, not a
    /// regular file, larger than 64 KiB or not UTF-8.
    private static func readKeyFile(_ path: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let data = FileManager.default.contents(atPath: path), data.count <= 64 << 10
        else { return nil }
        return String(validating: data, as: UTF8.self)
    }

    /// Parses `value` into the property for `key`.
    private mutating func apply(_ key: ServeSettingKey, value: String, origin: String) throws(ServeSettingsError) {
        func invalid(_ problem: String) -> ServeSettingsError {
            ServeSettingsError(key: key, origin: origin, value: key.isSecret ? "<redacted>" : value, problem: problem)
        }
        switch key {
        case .host:
            guard !value.contains(where: \.isWhitespace) else { throw invalid("expected a host name or an IP address") }
            host = value
        case .port:
            guard let port = Self.parseInteger(value), (0...65_535).contains(port) else {
                throw invalid("expected a whole number from 0 to 65535")
            }
            self.port = port
        case .nodeName:
            guard value.utf8.count <= 255, value.unicodeScalars.allSatisfy(Self.isNodeNameCharacter) else {
                throw invalid("expected at most 255 letters, digits, '.', '_', '-', ':' or '@'")
            }
            nodeName = value
        case .auth:
            guard let mode = AuthMode(rawValue: value.lowercased()) else {
                throw invalid("expected one of: \(AuthMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            auth = mode
        case .apiKey:
            guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw invalid("must not contain spaces or control characters")
            }
            apiKey = value
        case .socketPath:
            guard Self.isSocketPath(value) else {
                throw invalid("expected a path such as /socket: a '/' then letters, digits, '-', '_', '.' or '/'")
            }
            socketPath = value
        case .logLevel:
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw invalid("expected one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = level
        case .maxChannelsPerSocket:
            guard let count = Self.parseInteger(value), (1...1_000_000).contains(count) else {
                throw invalid("expected a whole number from 1 to 1000000")
            }
            maxChannelsPerSocket = count
        case .maxFrameSize:
            guard let size = Self.parseByteSize(value), (1...Int(UInt32.max)).contains(size) else {
                throw invalid("expected a size in bytes from 1 to 4294967295, such as 1048576, \"64KiB\" or \"1MiB\"")
            }
            maxFrameSize = size
        case .maxOutboundBytes:
            guard let size = Self.parseByteSize(value), (64 * 1024...Int(UInt32.max)).contains(size) else {
                throw invalid("expected a size in bytes from 65536 to 4294967295, such as 4194304 or \"4MiB\"")
            }
            maxOutboundBytes = size
        case .heartbeatTimeout:
            guard let duration = Self.parseDuration(value), duration > .zero, duration <= Self.longestDuration else {
                throw invalid("expected a duration above zero and at most 24h, such as 60 (seconds), \"60s\", \"2m\" or \"500ms\"")
            }
            heartbeatTimeout = duration
        case .pubsubAdapter:
            guard Self.pubsubAdapters.contains(value) else {
                throw invalid("expected one of: \(Self.pubsubAdapters.joined(separator: ", "))")
            }
            pubsubAdapter = value
        case .redisURL:
            redisURL = value
        case .redisNodeName:
            guard value.utf8.count <= 255, value.unicodeScalars.allSatisfy(Self.isNodeNameCharacter) else {
                throw invalid("expected at most 255 letters, digits, '.', '_', '-', ':' or '@'")
            }
            redisNodeName = value
        case .redisChannelPrefix:
            guard value.utf8.count <= 100, value.unicodeScalars.allSatisfy(Self.isNodeNameCharacter) else {
                throw invalid("expected at most 100 letters, digits, '.', '_', '-', ':' or '@'")
            }
            redisChannelPrefix = value
        case .redisMode:
            guard Self.redisModes.contains(value) else {
                throw invalid("expected one of: \(Self.redisModes.joined(separator: ", "))")
            }
            redisMode = value
        case .redisPublishers:
            guard let count = Self.parseInteger(value), (1...64).contains(count) else {
                throw invalid("expected a whole number from 1 to 64")
            }
            redisPublishers = count
        case .redisConnectTimeout:
            guard let duration = Self.parseDuration(value), duration > .zero, duration <= .seconds(300) else {
                throw invalid("expected a duration above zero and at most 5m, such as 5 (seconds), \"5s\" or \"500ms\"")
            }
            redisConnectTimeout = duration
        case .redisOutageBuffer:
            guard let count = Self.parseInteger(value), (0...1_000_000).contains(count) else {
                throw invalid("expected a number of messages from 0 to 1000000")
            }
            redisOutageBuffer = count
        case .shutdownGracePeriod:
            guard let duration = Self.parseDuration(value), duration <= Self.longestDuration else {
                throw invalid("expected a duration of at most 24h, such as 10 (seconds), \"10s\", \"1m\" or \"0\"")
            }
            shutdownGracePeriod = duration
        case .secretKeyBase:
            do {
                secretKeyBase = try SecretKeyBase(value)
            } catch {
                throw invalid("must be at least \(SecretKeyBase.minimumLength) bytes long (got \(value.utf8.count)); generate one with `openssl rand -base64 48`")
            }
        case .tokenNamespace:
            guard value.utf8.count <= 255, value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw invalid("expected at most 255 characters without spaces or control characters")
            }
            tokenNamespace = value
        case .tokenMaxAge:
            guard let duration = Self.parseDuration(value), duration >= .seconds(1) else {
                throw invalid("expected a duration of at least 1s and at most a year, such as \"10m\", \"2h\" or 86400 (seconds)")
            }
            tokenMaxAge = duration
        case .tokenClockSkew:
            guard let duration = Self.parseDuration(value), duration <= .seconds(600) else {
                throw invalid("expected a duration of at most 10m, such as \"30s\" or 0")
            }
            tokenClockSkew = duration
        case .tokenPublicKeyFile:
            tokenPublicKeyFile = value
        case .checkOrigin:
            do {
                checkOrigin = try CheckOrigin(parsing: value)
            } catch {
                throw invalid("expected true, false, conn or a comma-separated list of origins such as \"https://example.com, //*.example.org\": \(error)")
            }
        case .publicHost:
            guard let (host, _) = Origin.authority(value), !host.isEmpty else {
                throw invalid("expected a host name such as example.com")
            }
            publicHost = host
        case .trustedProxies:
            guard let proxies = TrustedProxies(parsing: value) else {
                throw invalid("expected a comma-separated list of IP addresses or networks, such as \"127.0.0.1, 10.0.0.0/8\"")
            }
            trustedProxies = proxies
        case .maxConnectionsPerAddress:
            guard let count = Self.parseInteger(value), (0...1_000_000).contains(count) else {
                throw invalid("expected a whole number from 0 (no limit) to 1000000")
            }
            maxConnectionsPerAddress = count == 0 ? nil : count
        case .messageRate:
            guard let count = Self.parseInteger(value), (0...1_000_000).contains(count) else {
                throw invalid("expected messages a second, a whole number from 0 (no limit) to 1000000")
            }
            messageRate = count
        case .messageBurst:
            guard let count = Self.parseInteger(value), (1...1_000_000).contains(count) else {
                throw invalid("expected a whole number from 1 to 1000000")
            }
            messageBurst = count
        case .adminHost:
            guard !value.contains(where: \.isWhitespace) else { throw invalid("expected a host name or an IP address") }
            adminHost = value
        case .adminPort:
            guard let port = Self.parseInteger(value), (0...65_535).contains(port) else {
                throw invalid("expected a whole number from 0 to 65535")
            }
            adminPort = port
        case .adminToken:
            guard value.utf8.count >= 16, value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw invalid("expected at least 16 characters without spaces or control characters, e.g. from `openssl rand -hex 24`")
            }
            adminToken = value
        case .compress:
            switch value.lowercased() {
            case "true", "yes", "on", "1": compress = true
            case "false", "no", "off", "0": compress = false
            default: throw invalid("expected true or false")
            }
        case .drainOnShutdown:
            guard let duration = Self.parseDuration(value), duration <= .seconds(3_600) else {
                throw invalid("expected a duration of at most 1h, such as 5 (seconds), \"30s\", \"2m\" or 0 (close all at once)")
            }
            drainOnShutdown = duration
        case .maxConnectionAge:
            guard let duration = Self.parseDuration(value), duration == .zero || duration >= .seconds(1) else {
                throw invalid("expected a duration of at least 1s, such as \"30m\" or \"6h\", or 0 (off)")
            }
            maxConnectionAge = duration == .zero ? nil : duration
        case .maxConnectionAgeJitter:
            guard let duration = Self.parseDuration(value) else {
                throw invalid("expected a duration such as \"5m\" (at most max_connection_age)")
            }
            maxConnectionAgeJitter = duration
        case .guardMaxConnections:
            guard let count = Self.parseInteger(value), (0...10_000_000).contains(count) else {
                throw invalid("expected a whole number from 0 (not watched) to 10000000")
            }
            guardMaxConnections = count == 0 ? nil : count
        case .guardMaxMemory:
            guard let size = Self.parseByteSize(value), size == 0 || size >= 16 << 20 else {
                throw invalid("expected a size of at least 16MiB, such as \"2GiB\" or \"512MiB\", or 0 (not watched)")
            }
            guardMaxMemory = size == 0 ? nil : size
        case .guardSustain:
            guard let duration = Self.parseDuration(value), duration <= .seconds(3_600) else {
                throw invalid("expected a duration of at most 1h, such as \"10s\"")
            }
            guardSustain = duration
        case .guardShedRate:
            guard let count = Self.parseInteger(value), (1...100_000).contains(count) else {
                throw invalid("expected connections a second, a whole number from 1 to 100000")
            }
            guardShedRate = count
        }
    }

    private static let longestDuration = Duration.seconds(86_400)

    private static func isNodeNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_:@".unicodeScalars.contains(scalar))
    }

    private static func isSocketPath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.contains("//"), path.utf8.count <= 200 else { return false }
        return path.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_./".unicodeScalars.contains(scalar))
        }
    }
}
