import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Switchboard

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

    @Option(help: "YAML configuration file (default: $\(ServeConfiguration.configFileVariable), or none).")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(parsing: .unconditional, help: "Port to listen on; 0 picks a free one (default 4000).")
    var port: String?

    @Option(help: "This node's name (default: generated).")
    var node: String?

    @Option(help: "Socket authentication: none | token (default none).")
    var auth: String?

    @Option(help: "Key required by POST /api/broadcast (default: none, endpoint disabled).")
    var apiKey: String?

    @Option(help: "trace | debug | info | notice | warning | error | critical (default info).")
    var logLevel: String?

    func run() async throws {
        let settings: ServeSettings
        do {
            settings = try await ServeConfiguration(
                configPath: config,
                flags: givenFlags(),
                environment: ProcessInfo.processInfo.environment
            ).load()
            try Self.checkAvailable(settings)
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
        if settings.auth == .none {
            logger.warning(
                "auth: none accepts every connection and trusts the user_id it is given; use it for local demos only"
            )
        }
        if settings.apiKey == nil {
            logger.info("no api_key configured: POST /api/broadcast is disabled")
        }

        let server = SwitchboardServer(
            configuration: settings.serverConfiguration,
            endpoints: [settings.endpoint],
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
        } catch {
            Self.printError("could not serve on \(settings.host):\(settings.port): \(error)")
            throw ExitCode.failure
        }
    }

    /// The setting flags that were given, by key.
    private func givenFlags() -> [ServeSettingKey: String] {
        let values: [(ServeSettingKey, String?)] = [
            (.host, host), (.port, port), (.nodeName, node), (.auth, auth), (.apiKey, apiKey), (.logLevel, logLevel),
        ]
        return Dictionary(uniqueKeysWithValues: values.compactMap { key, value in value.map { (key, $0) } })
    }

    /// Rejects settings that are valid but not supported by this build yet.
    private static func checkAvailable(_ settings: ServeSettings) throws(StartupError) {
        if settings.auth == .token {
            let origin = settings.origins[.auth] ?? "auth"
            throw StartupError(
                "invalid value \"token\" for auth (from \(origin)): signed-token sockets are not available in this build yet; use auth none (local demos only)"
            )
        }
    }

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }
}
