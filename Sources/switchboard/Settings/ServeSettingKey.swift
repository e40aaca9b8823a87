import Switchboard
/// A setting of `switchboard serve`, named as in its YAML configuration file
/// (nested keys joined with dots: `limits.max_frame_size`).
///
/// Each key can also be set by the environment variable
/// ``environmentVariable`` and, for the common ones, by the command-line
/// flag ``flag``.
public enum ServeSettingKey: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case host
    case port
    case nodeName = "node_name"
    case auth
    case apiKey = "api_key"
    case socketPath = "socket_path"
    case logLevel = "log_level"
    case maxChannelsPerSocket = "limits.max_channels_per_socket"
    case maxFrameSize = "limits.max_frame_size"
    case maxOutboundBytes = "limits.max_outbound_bytes"
    case heartbeatTimeout = "limits.heartbeat_timeout"
    case pubsubAdapter = "pubsub.adapter"
    case redisURL = "pubsub.redis.url"
    case redisNodeName = "pubsub.redis.node_name"
    case redisChannelPrefix = "pubsub.redis.channel_prefix"
    case redisMode = "pubsub.redis.mode"
    case redisPublishers = "pubsub.redis.publishers"
    case redisConnectTimeout = "pubsub.redis.connect_timeout"
    case redisOutageBuffer = "pubsub.redis.outage_buffer"
    case redisOutageBufferBytes = "pubsub.redis.outage_buffer_bytes"
    case redisRoleCheckInterval = "pubsub.redis.role_check_interval"
    case redisUsername = "pubsub.redis.username"
    case redisPassword = "pubsub.redis.password"
    case redisPasswordFile = "pubsub.redis.password_file"
    case redisTLSCAFile = "pubsub.redis.tls.ca_file"
    case redisTLSCertificateFile = "pubsub.redis.tls.certificate_file"
    case redisTLSKeyFile = "pubsub.redis.tls.key_file"
    case redisTLSServerName = "pubsub.redis.tls.server_name"
    case redisTLSInsecure = "pubsub.redis.tls.insecure"
    case redisSentinelUsername = "pubsub.redis.sentinel.username"
    case redisSentinelPassword = "pubsub.redis.sentinel.password"
    case redisSentinelPasswordFile = "pubsub.redis.sentinel.password_file"
    case shutdownGracePeriod = "shutdown_grace_period"
    case secretKeyBase = "secret_key_base"
    case tokenNamespace = "token.namespace"
    case tokenMaxAge = "token.max_age"
    case tokenClockSkew = "token.clock_skew"
    case tokenPublicKeyFile = "token.public_key_file"
    case checkOrigin = "check_origin"
    case compress
    case longPoll = "longpoll"
    case presence
    case publicHost = "public_host"
    case trustedProxies = "trusted_proxies"
    case maxConnectionsPerAddress = "limits.max_connections_per_address"
    case messageRate = "limits.message_rate"
    case messageBurst = "limits.message_burst"
    case adminHost = "admin.host"
    case adminPort = "admin.port"
    case adminToken = "admin.token"
    case drainOnShutdown = "drain_on_shutdown"
    case maxConnectionAge = "max_connection_age"
    case maxConnectionAgeJitter = "max_connection_age_jitter"
    case guardMaxConnections = "resource_guard.max_connections"
    case guardMaxMemory = "resource_guard.max_memory"
    case guardSustain = "resource_guard.sustain"
    case guardShedRate = "resource_guard.shed_rate"
    case metricsPublic = "metrics.public"

    /// The prefix of every environment variable: `SWITCHBOARD_`.
    public static let environmentPrefix = "SWITCHBOARD"

    /// The key's path in the YAML file: `["limits", "max_frame_size"]`.
    public var components: [String] {
        rawValue.split(separator: ".").map(String.init)
    }

    /// The environment variable that sets this key: `SWITCHBOARD_LIMITS_MAX_FRAME_SIZE`.
    public var environmentVariable: String {
        ([Self.environmentPrefix] + components).joined(separator: "_").uppercased()
    }

    /// The command-line flag that sets this key, if it has one: `--port`.
    public var flag: String? {
        switch self {
        case .host: return "--host"
        case .port: return "--port"
        case .nodeName: return "--node"
        case .auth: return "--auth"
        case .apiKey: return "--api-key"
        case .logLevel: return "--log-level"
        case .checkOrigin: return "--check-origin"
        case .pubsubAdapter: return "--adapter"
        case .redisURL: return "--redis-url"
        case .redisMode: return "--redis-mode"
        case .redisPasswordFile: return "--redis-password-file"
        case .redisTLSCAFile: return "--redis-tls-ca-file"
        case .redisTLSCertificateFile: return "--redis-tls-certificate-file"
        case .redisTLSKeyFile: return "--redis-tls-key-file"
        case .redisTLSServerName: return "--redis-tls-server-name"
        case .redisSentinelPasswordFile: return "--redis-sentinel-password-file"
        case .redisUsername, .redisPassword, .redisTLSInsecure, .redisSentinelUsername, .redisSentinelPassword: return nil
        case .adminHost: return "--admin-host"
        case .adminPort: return "--admin-port"
        case .adminToken, .drainOnShutdown: return nil
        case .maxConnectionAge, .maxConnectionAgeJitter, .guardMaxConnections, .guardMaxMemory, .guardSustain, .guardShedRate,
             .metricsPublic:
            return nil
        case .redisNodeName, .redisChannelPrefix, .redisPublishers, .redisConnectTimeout, .redisOutageBuffer, .redisOutageBufferBytes,
             .redisRoleCheckInterval:
            return nil
        case .socketPath, .maxChannelsPerSocket, .maxFrameSize, .maxOutboundBytes, .heartbeatTimeout, .shutdownGracePeriod,
             .secretKeyBase, .tokenNamespace, .tokenMaxAge, .tokenClockSkew, .tokenPublicKeyFile, .publicHost,
             .trustedProxies, .maxConnectionsPerAddress, .messageRate, .messageBurst, .compress, .longPoll, .presence:
            return nil
        }
    }

    /// Whether the key takes a list (a YAML sequence, or comma-separated text).
    public var acceptsList: Bool {
        self == .checkOrigin || self == .trustedProxies
    }

    /// Whether the value is a secret: never echoed in messages.
    public var isSecret: Bool {
        self == .secretKeyBase || self == .adminToken || self == .redisPassword || self == .redisSentinelPassword || ServerSettings.Key(rawValue: rawValue)?.isSecret == true
    }

    public var description: String { rawValue }
}
