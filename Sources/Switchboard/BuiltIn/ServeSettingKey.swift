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
    case heartbeatTimeout = "limits.heartbeat_timeout"
    case pubsubAdapter = "pubsub.adapter"
    case shutdownGracePeriod = "shutdown_grace_period"

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
        case .socketPath, .maxChannelsPerSocket, .maxFrameSize, .heartbeatTimeout, .pubsubAdapter, .shutdownGracePeriod:
            return nil
        }
    }

    public var description: String { rawValue }
}
