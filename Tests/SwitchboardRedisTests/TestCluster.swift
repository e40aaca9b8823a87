import Foundation
import Logging
import NIOCore
import Switchboard
import SwitchboardClient
@testable import SwitchboardRedis

/// One to three in-process Switchboard nodes on one Redis, each with its own
/// ``RedisAdapter``, node name (`node-a`, `node-b`, … unless named) and
/// metrics at `GET /metrics`.
struct TestCluster: Sendable {
    let redis: RedisTestServer
    let servers: [SwitchboardServer]
    let adapters: [RedisAdapter]

    static let apiKey = "test-api-key"

    static func start(
        nodes: Int,
        names: [String]? = nil,
        mode: RedisMode = .perTopic,
        redis: RedisTestServer,
        endpoints: [SocketEndpoint] = [BuiltIn.endpoint()],
        maxChannelsPerSocket: Int = 100,
        urls: [String]? = nil,
        configure: (inout RedisAdapterConfiguration) -> Void = { _ in },
        configureServer: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestCluster {
        var servers: [SwitchboardServer] = []
        var adapters: [RedisAdapter] = []
        for index in 0..<nodes {
            let name = names?[index] ?? "node-" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))
            var adapterConfiguration = try adapterConfiguration(name: name, mode: mode, redis: redis, configure: configure)
            if let urls { adapterConfiguration.url = try RedisURL(urls[index]) }
            let adapter = RedisAdapter(configuration: adapterConfiguration, logger: testLogger(name))
            var configuration = ServerConfiguration()
            configuration.host = "127.0.0.1"
            configuration.port = 0
            configuration.eventLoopThreads = 1
            configuration.apiKey = apiKey
            // Scraped on the public port (PrometheusText.scrape).
            configuration.metrics = .privatePrometheus(onPublicListener: true)
            configuration.shutdownGracePeriod = .milliseconds(200)
            configuration.limits.maxChannelsPerSocket = maxChannelsPerSocket
            // Cluster reports stay out of the way of tests that count messages.
            configuration.clusterReportInterval = .seconds(3600)
            configureServer(&configuration)
            let server = SwitchboardServer(configuration: configuration, endpoints: endpoints, adapter: adapter, logger: testLogger(name))
            try await server.start()
            servers.append(server)
            adapters.append(adapter)
        }
        return TestCluster(redis: redis, servers: servers, adapters: adapters)
    }

    static func adapterConfiguration(
        name: String,
        mode: RedisMode = .perTopic,
        redis: RedisTestServer,
        configure: (inout RedisAdapterConfiguration) -> Void = { _ in }
    ) throws -> RedisAdapterConfiguration {
        var configuration = RedisAdapterConfiguration(url: try RedisURL(redis.url), nodeName: name)
        configuration.mode = mode
        configuration.connectTimeout = .seconds(2)
        configure(&configuration)
        return configuration
    }

    /// A connected client of node `index`.
    func client(_ index: Int, user: String = "1") async throws -> PhoenixClient {
        let client = PhoenixClient(configuration: .init(
            host: "127.0.0.1", port: servers[index].localPort!, params: ["user_id": user], heartbeatInterval: nil
        ))
        try await client.connect()
        return client
    }

    /// A client of node `index` joined to `topic`.
    func joined(_ index: Int, _ topic: String) async throws -> (PhoenixClient, ClientChannel) {
        let client = try await client(index)
        let channel = client.channel(topic)
        _ = try await channel.join()
        return (client, channel)
    }

    /// Starts a cluster, runs `body` with it, and shuts it down (Redis too),
    /// whether `body` threw or not.
    static func with<R>(
        nodes: Int,
        names: [String]? = nil,
        mode: RedisMode = .perTopic,
        redis: RedisTestServer? = nil,
        endpoints: [SocketEndpoint] = [BuiltIn.endpoint()],
        urls: [String]? = nil,
        configure: (inout RedisAdapterConfiguration) -> Void = { _ in },
        configureServer: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestCluster) async throws -> R
    ) async throws -> R {
        let redis = if let redis { redis } else { try await RedisTestServer.start() }
        let cluster: TestCluster
        do {
            cluster = try await start(
                nodes: nodes, names: names, mode: mode, redis: redis, endpoints: endpoints, urls: urls, configure: configure, configureServer: configureServer
            )
        } catch {
            redis.stop()
            throw error
        }
        do {
            let result = try await body(cluster)
            await cluster.shutdown()
            return result
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    func shutdown() async {
        for server in servers {
            await server.shutdown()
        }
        redis.stop()
    }
}

/// Logs warnings and above to stderr, so failures come with the adapter's story.
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"] == "info" ? .info : .warning
        return handler
    }
    logger.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"] == "info" ? .info : .warning
    return logger
}
