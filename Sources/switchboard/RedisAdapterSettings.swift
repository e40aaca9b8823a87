import Foundation
import Logging
import NIOCore
import Switchboard
import SwitchboardRedis

/// Builds the PubSub adapter that `pubsub.adapter` names: `nil` for `local`
/// (the server's default), a ``RedisAdapter`` for `redis`.
extension ServeSettings {
    /// A Redis adapter's connections run on `eventLoopGroup`, the server's.
    func makePubSubAdapter(eventLoopGroup: any EventLoopGroup, logger: Logger) throws(ServeSettingsError) -> (any PubSubAdapter)? {
        guard pubsubAdapter == "redis" else { return nil }
        return RedisAdapter(configuration: try redisAdapterConfiguration(), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// The `pubsub.redis.*` settings as the adapter's configuration; the URL
    /// is checked here, with the error naming its key and where it was set.
    func redisAdapterConfiguration() throws(ServeSettingsError) -> RedisAdapterConfiguration {
        let url: RedisURL
        do {
            url = try RedisURL(redisURL)
        } catch {
            throw ServeSettingsError(key: .redisURL, origin: origins[.redisURL] ?? "default", value: error.url, problem: error.problem)
        }
        var configuration = RedisAdapterConfiguration(url: url, nodeName: redisNodeName ?? nodeName ?? derivedNodeName)
        configuration.channelPrefix = redisChannelPrefix
        configuration.mode = RedisMode(rawValue: redisMode) ?? .perTopic
        configuration.publishers = redisPublishers
        configuration.connectTimeout = redisConnectTimeout
        configuration.outageBuffer = redisOutageBuffer
        return configuration
    }

    /// `switchboard-<host name>-<port>`, or with a random suffix when the port is picked at start (0).
    private var derivedNodeName: String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let suffix = port == 0 ? String(UInt16.random(in: .min ... .max), radix: 16) : String(port)
        return "switchboard-\(host)-\(suffix)"
    }
}
