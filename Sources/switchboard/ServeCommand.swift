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
            (SWITCHBOARD_PORT, SWITCHBOARD_LIMITS_MAX_FRAME_SIZE, …), then the YAML file, then defaults. \
            `switchboard config print` shows what they add up to; `switchboard config sample` writes a file with every key.
            """
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let configuration = options.configuration(environment: ProcessInfo.processInfo.environment)
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

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }
}
