import ArgumentParser
import Configuration
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Switchboard
import SwitchboardRedis

/// `switchboard serve`: runs a node with the built-in channels until SIGTERM
/// or SIGINT, then closes every socket with code 1012 and exits 0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Phoenix Channels clients, the HTTP API and, with auth none, a demo chat page.",
        discussion: """
            Settings come from these flags, then SWITCHBOARD_* environment variables \
            (SWITCHBOARD_PORT, SWITCHBOARD_LIMITS_MAX_FRAME_SIZE, …), then the YAML file, then defaults.
            """
    )

    @Option(help: ArgumentHelp("YAML configuration file (default: $\(ServeConfiguration.configFileVariable), or none).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Address to listen on (default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Port to listen on; 0 picks a free one (default 4000).", valueName: "port"))
    var port: String?

    @Option(help: ArgumentHelp("This node's name (default: generated).", valueName: "name"))
    var node: String?

    @Option(help: ArgumentHelp("Socket authentication: signed tokens, or none for local demos (default token).", valueName: "token|none"))
    var auth: String?

    @Option(help: ArgumentHelp("Allowed web origins: true (public_host), false, conn (the request's own) or a comma-separated list such as https://example.com,//*.example.org (default conn).", valueName: "origins"))
    var checkOrigin: String?

    @Option(help: ArgumentHelp("Key required by POST /api/broadcast (default: none, endpoint disabled).", valueName: "key"))
    var apiKey: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (default info).", valueName: "level"))
    var logLevel: String?

    @Option(help: ArgumentHelp("How broadcasts reach other nodes: local (one node) or redis (default local).", valueName: "local|redis"))
    var adapter: String?

    @Option(help: ArgumentHelp("Redis for --adapter redis: redis://[[user]:password@]host[:port][/db] (default redis://127.0.0.1:6379/0).", valueName: "url"))
    var redisUrl: String?

    @Option(help: ArgumentHelp("Redis channels for --adapter redis: per_topic or global (default per_topic).", valueName: "per_topic|global"))
    var redisMode: String?

    @Option(help: ArgumentHelp("File holding the Redis password, for --adapter redis (instead of one in the URL).", valueName: "path"))
    var redisPasswordFile: String?

    @Option(help: ArgumentHelp("File holding the password of the sentinels of a redis+sentinel:// URL.", valueName: "path"))
    var redisSentinelPasswordFile: String?

    @Option(help: ArgumentHelp("PEM file of the CAs that sign Redis's certificate, for rediss:// (default: the system's).", valueName: "path"))
    var redisTlsCaFile: String?

    @Option(help: ArgumentHelp("PEM client certificate for mutual TLS with Redis (with --redis-tls-key-file).", valueName: "path"))
    var redisTlsCertificateFile: String?

    @Option(help: ArgumentHelp("PEM private key of --redis-tls-certificate-file.", valueName: "path"))
    var redisTlsKeyFile: String?

    @Option(help: ArgumentHelp("Name expected in Redis's certificate and sent in SNI (default: the URL's host).", valueName: "name"))
    var redisTlsServerName: String?

    @Option(help: ArgumentHelp("Address of the admin API listener (default 127.0.0.1); the API is on only with an admin token (SWITCHBOARD_ADMIN_TOKEN or admin.token).", valueName: "address"))
    var adminHost: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Port of the admin API listener; 0 picks a free one (default 4100).", valueName: "port"))
    var adminPort: String?

    func run() async throws {
        let configuration = ServeConfiguration(
            configPath: config,
            flags: givenFlags(),
            environment: ProcessInfo.processInfo.environment
        )
        let reader: ConfigReader
        let settings: ServeSettings
        do {
            reader = try await configuration.reader()
            settings = try ServeConfiguration.settings(from: reader)
        } catch {
            Self.printError(error.description)
            throw ExitCode.failure
        }

        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        for warning in configuration.environmentWarnings() {
            logger.warning("\(warning)")
        }
        if settings.auth == .token, settings.secretKeyBase == nil, settings.tokenPublicKeyFile == nil {
            Self.printError(TokenCommand.noKeyMessage)
            throw ExitCode.failure
        }
        // One group of event loops (one per core) for the listener, the
        // connections and the Redis adapter's connections.
        let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        let endpoint: SocketEndpoint
        let adapter: (any PubSubAdapter)?
        do {
            endpoint = try await settings.makeEndpoint(logger: logger)
            adapter = try settings.makePubSubAdapter(reader: reader, eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            Self.printError(error.description)
            throw ExitCode.failure
        }
        if settings.auth == .none {
            logger.warning(
                "auth: none accepts every connection and trusts the user_id it is given; use it for local demos only"
            )
        }
        if settings.server.apiKey == nil {
            logger.info("no api_key configured: POST /api/broadcast is disabled")
        }
        Self.raiseOpenFileLimit(logger: logger)

        var serverConfiguration = settings.serverConfiguration
        serverConfiguration.metrics.prometheusText = PrometheusBootstrap.run()
        let server = SwitchboardServer(
            configuration: serverConfiguration,
            endpoints: [endpoint],
            adapter: adapter,
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch let error as RedisAdapterError {
            Self.printError("cannot start the Redis adapter (pubsub.redis.url from \(settings.origins[.redisURL] ?? "default")): \(error)")
            throw ExitCode.failure
        } catch let error as ListenerError {
            Self.printError(error.description)
            throw ExitCode.failure
        } catch {
            Self.printError("cannot serve on \(settings.server.host):\(settings.server.port): \(error)")
            throw ExitCode.failure
        }
    }

    /// Each connection holds a descriptor: the soft limit goes up to the hard
    /// one, and a limit that leaves room for few connections is said loudly.
    private static func raiseOpenFileLimit(logger: Logger) {
        guard let limit = OpenFileLimit.raiseToHardLimit() else { return }
        let raised = limit.now > limit.before ? " (raised from \(limit.before))" : ""
        if limit.now < 16_384 {
            logger.warning(
                "open-file limit \(limit.now)\(raised): room for about \(limit.now) connections; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) to serve more"
            )
        } else {
            logger.info("open-file limit \(limit.now)\(raised)")
        }
    }

    /// The setting flags that were given, by key.
    private func givenFlags() -> [ServeSettingKey: String] {
        let values: [(ServeSettingKey, String?)] = [
            (.host, host), (.port, port), (.nodeName, node), (.auth, auth), (.apiKey, apiKey), (.logLevel, logLevel),
            (.checkOrigin, checkOrigin), (.pubsubAdapter, adapter), (.redisURL, redisUrl), (.redisMode, redisMode),
            (.redisPasswordFile, redisPasswordFile), (.redisTLSCAFile, redisTlsCaFile),
            (.redisTLSCertificateFile, redisTlsCertificateFile), (.redisTLSKeyFile, redisTlsKeyFile),
            (.redisTLSServerName, redisTlsServerName), (.redisSentinelPasswordFile, redisSentinelPasswordFile),
            (.adminHost, adminHost), (.adminPort, adminPort),
        ]
        return Dictionary(uniqueKeysWithValues: values.compactMap { key, value in value.map { (key, $0) } })
    }

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }
}
