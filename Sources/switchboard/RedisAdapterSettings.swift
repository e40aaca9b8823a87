import Configuration
import Foundation
import Logging
import NIOCore
import Switchboard
import SwitchboardRedis

/// Builds the PubSub adapter that `pubsub.adapter` names: `nil` for `local`
/// (the server's default), a ``RedisAdapter`` for `redis`.
extension ServeSettings {
    /// A Redis adapter's connections run on `eventLoopGroup`, the server's;
    /// its configuration is read from `reader`, the one these settings were
    /// read from.
    func makePubSubAdapter(
        reader: ConfigReader,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws(ServeSettingsError) -> (any PubSubAdapter)? {
        guard pubsubAdapter == "redis" else { return nil }
        return RedisAdapter(configuration: try redisAdapterConfiguration(reader: reader), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// The `pubsub.redis.*` keys of `reader` as the adapter's configuration
    /// (``RedisAdapterConfiguration/init(reader:server.nodeName:)``), the node name
    /// defaulting to `node_name`, else one derived from the host name and
    /// port. The values were checked by ``init(reader:)``; the URL is checked
    /// here, with the error naming its key and where it was set.
    func redisAdapterConfiguration(reader: ConfigReader) throws(ServeSettingsError) -> RedisAdapterConfiguration {
        do {
            return try RedisAdapterConfiguration(reader: reader.scoped(to: "pubsub.redis"), nodeName: server.nodeName ?? derivedNodeName)
        } catch {
            let key = ServeSettingKey(rawValue: "pubsub.redis." + error.key) ?? .redisURL
            throw ServeSettingsError(key: key, origin: origins[key] ?? "default", value: error.value, problem: error.problem)
        }
    }

    /// `switchboard-<host name>-<port>`, or with a random suffix when the port is picked at start (0).
    private var derivedNodeName: String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let suffix = server.port == 0 ? String(UInt16.random(in: .min ... .max), radix: 16) : String(server.port)
        return "switchboard-\(host)-\(suffix)"
    }
}
