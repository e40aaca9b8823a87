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

    /// The server's own settings (`host`, `port`, `limits.*`, `admin.*`,
    /// …), checked as ``ServerConfiguration/init(reader:)`` checks them.
    var server = ServerSettings()
    /// `auth`: how sockets authenticate.
    public var auth = AuthMode.token
    /// `socket_path`: where clients connect (`<socket_path>/websocket`).
    public var socketPath = "/socket"
    /// `log_level`: the lowest level logged.
    public var logLevel = Logger.Level.info
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
    /// `pubsub.redis.outage_buffer`: messages this node keeps while Redis is away; 0 drops them.
    public var redisOutageBuffer = 0
    /// `pubsub.redis.outage_buffer_bytes`: bytes the outage buffer may hold on this node.
    public var redisOutageBufferBytes = 64 << 20
    /// `pubsub.redis.role_check_interval`: behind Sentinel, how often publishers check their server's `ROLE`; zero: off.
    public var redisRoleCheckInterval = Duration.seconds(5)
    /// `pubsub.redis.username`: the ACL user, when the URL names none.
    public var redisUsername: String?
    /// `pubsub.redis.password_file`: a file holding the Redis password.
    /// (`pubsub.redis.password` itself is read by the adapter's
    /// configuration and kept nowhere else.)
    public var redisPasswordFile: String?
    /// `pubsub.redis.tls.ca_file`: the CAs trusted for a `rediss://` URL; the system's when unset.
    public var redisTLSCAFile: String?
    /// `pubsub.redis.tls.certificate_file`: the client certificate for mutual TLS.
    public var redisTLSCertificateFile: String?
    /// `pubsub.redis.tls.key_file`: the client certificate's private key.
    public var redisTLSKeyFile: String?
    /// `pubsub.redis.tls.server_name`: the name expected in Redis's certificate (and sent in SNI).
    public var redisTLSServerName: String?
    /// `pubsub.redis.tls.insecure`: no certificate checks at all; for tests only.
    public var redisTLSInsecure = false
    /// `pubsub.redis.sentinel.username`: the sentinels' ACL user, for a `redis+sentinel://` URL.
    public var redisSentinelUsername: String?
    /// `pubsub.redis.sentinel.password_file`: a file holding the sentinels' password.
    /// (`pubsub.redis.sentinel.password` itself is read by the adapter's
    /// configuration and kept nowhere else.)
    public var redisSentinelPasswordFile: String?
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
    /// `longpoll`: serve the long-poll transport at `<socket_path>/longpoll` too.
    public var longPoll = true
    /// `presence`: the built-in `room:*` channels track who is in them
    /// (``PresenceRoomChannel``).
    public var presence = false
    /// Where each setting that is not a default came from (`"SWITCHBOARD_PORT"`).
    public var origins: [ServeSettingKey: String] = [:]
    /// Each setting that is not a default, as written where it was set.
    public var values: [ServeSettingKey: ServeSettingValue] = [:]

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
                    guard let value = try Self.read(key, from: reader, recorder: recorder) else { continue }
                    settings.origins[key] = value.originName
                    settings.values[key] = value
                    try settings.apply(key, value: value.text, origin: value.originName)
                }
                return settings
            }
        }
        self = try result.get()
    }

    /// The server configuration these settings describe; with `auth: none`
    /// it serves the demo chat page (``DemoPage``) at `/` and its icon at `/favicon.ico`.
    public var serverConfiguration: ServerConfiguration {
        var configuration = server.configuration()
        if auth == .none {
            configuration.pages["/"] = StaticPage(body: DemoPage.html(socketPath: socketPath))
            configuration.pages["/favicon.ico"] = StaticPage(contentType: "image/svg+xml", body: DemoPage.favicon)
        }
        return configuration
    }

    /// The built-in channels at ``socketPath`` with ``DemoSocket`` (`auth:
    /// none`) and ``checkOrigin``. ``makeEndpoint(logger:)`` honours ``auth``.
    public var endpoint: SocketEndpoint {
        var endpoint = BuiltIn.endpoint(path: socketPath, presence: presence)
        endpoint.checkOrigin = checkOrigin
        endpoint.compress = compress
        endpoint.longPoll = longPoll ? LongPollOptions() : nil
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
        if let serverKey = ServerSettings.Key(rawValue: key.rawValue) {
            do {
                try server.apply(serverKey, value: value)
            } catch {
                throw invalid(error.text)
            }
            return
        }
        switch key {
        case .auth:
            guard let mode = AuthMode(rawValue: value.lowercased()) else {
                throw invalid("expected one of: \(AuthMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            auth = mode
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
        case .pubsubAdapter:
            guard Self.pubsubAdapters.contains(value) else {
                throw invalid("expected one of: \(Self.pubsubAdapters.joined(separator: ", "))")
            }
            pubsubAdapter = value
        case .redisURL:
            redisURL = value
        case .redisNodeName:
            guard value.utf8.count <= 255, value.unicodeScalars.allSatisfy(SettingText.isNodeNameCharacter) else {
                throw invalid("expected at most 255 letters, digits, '.', '_', '-', ':' or '@'")
            }
            redisNodeName = value
        case .redisChannelPrefix:
            guard value.utf8.count <= 100, value.unicodeScalars.allSatisfy(SettingText.isNodeNameCharacter) else {
                throw invalid("expected at most 100 letters, digits, '.', '_', '-', ':' or '@'")
            }
            redisChannelPrefix = value
        case .redisMode:
            guard Self.redisModes.contains(value) else {
                throw invalid("expected one of: \(Self.redisModes.joined(separator: ", "))")
            }
            redisMode = value
        case .redisPublishers:
            guard let count = SettingText.integer(value), (1...64).contains(count) else {
                throw invalid("expected a whole number from 1 to 64")
            }
            redisPublishers = count
        case .redisConnectTimeout:
            guard let duration = SettingText.duration(value), duration > .zero, duration <= .seconds(300) else {
                throw invalid("expected a duration above zero and at most 5m, such as 5 (seconds), \"5s\" or \"500ms\"")
            }
            redisConnectTimeout = duration
        case .redisOutageBuffer:
            guard let count = SettingText.integer(value), (0...1_000_000).contains(count) else {
                throw invalid("expected a number of messages from 0 to 1000000")
            }
            redisOutageBuffer = count
        case .redisOutageBufferBytes:
            guard let size = SettingText.byteSize(value), (1024...(1 << 40)).contains(size) else {
                throw invalid("expected a size in bytes from 1KiB to 1024GiB, such as 67108864, \"64MiB\" or \"1GiB\"")
            }
            redisOutageBufferBytes = size
        case .redisRoleCheckInterval:
            guard let duration = SettingText.duration(value), duration >= .zero, duration <= .seconds(3600) else {
                throw invalid("expected a duration from 0 (off) to 1h, such as 5 (seconds), \"5s\" or \"500ms\"")
            }
            redisRoleCheckInterval = duration
        case .redisUsername:
            guard value.utf8.count <= 255, !value.contains(where: { $0.isWhitespace }) else {
                throw invalid("expected at most 255 characters without spaces")
            }
            redisUsername = value
        case .redisPassword:
            // Read, with the URL's, by the adapter's configuration.
            break
        case .redisPasswordFile:
            redisPasswordFile = value
        case .redisTLSCAFile:
            redisTLSCAFile = value
        case .redisTLSCertificateFile:
            redisTLSCertificateFile = value
        case .redisTLSKeyFile:
            redisTLSKeyFile = value
        case .redisTLSServerName:
            guard value.utf8.count <= 253, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }) else {
                throw invalid("expected a host name")
            }
            redisTLSServerName = value
        case .redisTLSInsecure:
            guard let flag = Self.parseFlag(value) else { throw invalid("expected true or false") }
            redisTLSInsecure = flag
        case .redisSentinelUsername:
            guard value.utf8.count <= 255, !value.contains(where: { $0.isWhitespace }) else {
                throw invalid("expected at most 255 characters without spaces")
            }
            redisSentinelUsername = value
        case .redisSentinelPassword:
            // Read by the adapter's configuration.
            break
        case .redisSentinelPasswordFile:
            redisSentinelPasswordFile = value
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
            guard let duration = SettingText.duration(value), duration >= .seconds(1) else {
                throw invalid("expected a duration of at least 1s and at most a year, such as \"10m\", \"2h\" or 86400 (seconds)")
            }
            tokenMaxAge = duration
        case .tokenClockSkew:
            guard let duration = SettingText.duration(value), duration <= .seconds(600) else {
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
        case .compress:
            guard let flag = Self.parseFlag(value) else { throw invalid("expected true or false") }
            compress = flag
        case .longPoll:
            guard let flag = Self.parseFlag(value) else { throw invalid("expected true or false") }
            longPoll = flag
        case .presence:
            guard let flag = Self.parseFlag(value) else { throw invalid("expected true or false") }
            presence = flag
        default:
            preconditionFailure("\(key) is a server key, applied above")
        }
    }

    /// `true`, `yes`, `on`, `1` or their opposites, in any case.
    private static func parseFlag(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    private static func isSocketPath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.contains("//"), path.utf8.count <= 200 else { return false }
        return path.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_./".unicodeScalars.contains(scalar))
        }
    }
}
