import NIOCore

/// A host and port, such as a sentinel's or the master's that the sentinels name.
public struct RedisHostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (`[v6]:port`).
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// The Redis Sentinel group of a `redis+sentinel://` URL: the sentinels to
/// ask, in this order, and the name of the master they watch.
public struct RedisSentinelGroup: Sendable, Hashable {
    public var sentinels: [RedisHostPort]
    /// The name in the sentinels' `sentinel monitor <name> …`.
    public var masterName: String

    public init(sentinels: [RedisHostPort], masterName: String) {
        self.sentinels = sentinels
        self.masterName = masterName
    }
}

extension RedisHostPort {
    /// Whether `channel` is connected to this address (an IP address, as
    /// sentinels give them unless they announce host names; a host name
    /// never matches).
    func isAddress(of channel: any Channel) -> Bool {
        guard let remote = channel.remoteAddress, remote.port == port, let ip = remote.ipAddress else { return false }
        return ip == host
    }
}
