import ArgumentParser
import Switchboard

/// The flags of `switchboard serve` (`--config`, `--port`, …), shared by
/// `switchboard config print`, which shows what `serve` would run with.
struct ServeOptions: ParsableArguments {
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

    /// The settings' sources these flags and `environment` describe.
    func configuration(environment: [String: String]) -> ServeConfiguration {
        ServeConfiguration(configPath: config, flags: givenFlags(), environment: environment)
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
}
