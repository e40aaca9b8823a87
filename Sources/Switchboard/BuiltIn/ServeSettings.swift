import Logging

/// The settings of `switchboard serve`, resolved from its sources — flags,
/// then the environment, then the YAML file, then the defaults — and checked
/// before anything starts.
///
/// ```swift
/// let settings = try ServeSettings(sources: [
///     .flags([.port: "4001"]),
///     .environment(ProcessInfo.processInfo.environment),
/// ])
/// let server = SwitchboardServer(configuration: settings.serverConfiguration, endpoints: [settings.endpoint])
/// ```
public struct ServeSettings: Sendable, Equatable {
    /// How sockets authenticate (`auth`).
    public enum AuthMode: String, Sendable, CaseIterable {
        /// Every connection is accepted and `user_id` comes from the connect
        /// params (``DemoSocket``); for local demos only.
        case none
        /// Signed tokens.
        case token
    }

    /// `host`: address to listen on.
    public var host = "127.0.0.1"
    /// `port`: port to listen on (0 picks a free one).
    public var port = 4000
    /// `node_name`: this node's name; generated when `nil`.
    public var nodeName: String?
    /// `auth`: how sockets authenticate.
    public var auth = AuthMode.none
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
    /// `limits.heartbeat_timeout`: silence after which a connection is closed.
    public var heartbeatTimeout = Duration.seconds(60)
    /// `pubsub.adapter`: how broadcasts reach other nodes.
    public var pubsubAdapter = "local"
    /// `shutdown_grace_period`: how long a shutdown waits for sockets to close.
    public var shutdownGracePeriod = Duration.seconds(10)
    /// Where each setting that is not a default came from (`"SWITCHBOARD_PORT"`).
    public var origins: [ServeSettingKey: String] = [:]

    /// The `pubsub.adapter` values this build accepts.
    public static let pubsubAdapters = ["local"]

    /// The defaults.
    public init() {}

    /// Resolves every key from `sources`, the first source that sets a key
    /// winning (pass flags, environment, file, in that order); keys that no
    /// source sets keep their defaults. An empty value counts as not set.
    ///
    /// - Throws: the first value that cannot be used, naming its key and source.
    public init(sources: [ServeSettingsSource]) throws(ServeSettingsError) {
        for key in ServeSettingKey.allCases {
            guard let (value, origin) = try Self.find(key, in: sources) else { continue }
            origins[key] = origin
            try apply(key, value: value, origin: origin)
        }
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
        configuration.limits.heartbeatTimeout = heartbeatTimeout
        configuration.shutdownGracePeriod = shutdownGracePeriod
        if auth == .none {
            configuration.pages["/"] = StaticPage(body: DemoPage.html(socketPath: socketPath))
        }
        return configuration
    }

    /// The built-in socket endpoint at ``socketPath`` (``BuiltIn/endpoint(path:)``).
    public var endpoint: SocketEndpoint {
        BuiltIn.endpoint(path: socketPath)
    }

    /// The first non-empty value of `key` in `sources`, trimmed, with its origin.
    private static func find(
        _ key: ServeSettingKey,
        in sources: [ServeSettingsSource]
    ) throws(ServeSettingsError) -> (String, String)? {
        for source in sources {
            let raw: String?
            do {
                raw = try source.lookup(key)
            } catch {
                throw ServeSettingsError(
                    key: key, origin: source.origin(of: key), value: nil,
                    problem: "expected a single value, not a list or a mapping"
                )
            }
            guard let value = raw?.trimmingWhitespace(), !value.isEmpty else { continue }
            if case .file = source.kind, Self.yamlNulls.contains(value) { continue }
            return (value, source.origin(of: key))
        }
        return nil
    }

    /// Plain scalars that YAML reads as null.
    private static let yamlNulls: Set<String> = ["~", "null", "Null", "NULL"]

    /// Parses `value` into the property for `key`.
    private mutating func apply(_ key: ServeSettingKey, value: String, origin: String) throws(ServeSettingsError) {
        func invalid(_ problem: String) -> ServeSettingsError {
            ServeSettingsError(key: key, origin: origin, value: value, problem: problem)
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
        case .heartbeatTimeout:
            guard let duration = Self.parseDuration(value), duration > .zero, duration <= Self.longestDuration else {
                throw invalid("expected a duration above zero and at most 24h, such as 60 (seconds), \"60s\", \"2m\" or \"500ms\"")
            }
            heartbeatTimeout = duration
        case .pubsubAdapter:
            guard Self.pubsubAdapters.contains(value) else {
                throw invalid("this build supports only: \(Self.pubsubAdapters.joined(separator: ", "))")
            }
            pubsubAdapter = value
        case .shutdownGracePeriod:
            guard let duration = Self.parseDuration(value), duration <= Self.longestDuration else {
                throw invalid("expected a duration of at most 24h, such as 10 (seconds), \"10s\", \"1m\" or \"0\"")
            }
            shutdownGracePeriod = duration
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

extension String {
    /// The string without leading and trailing whitespace and newlines.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
