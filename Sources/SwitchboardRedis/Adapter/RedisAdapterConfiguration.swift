/// The settings of a ``RedisAdapter``.
///
/// ```swift
/// var configuration = RedisAdapterConfiguration(url: try RedisURL("redis://127.0.0.1:6379/0"), nodeName: "node-a")
/// configuration.mode = .global
/// let server = SwitchboardServer(configuration: …, endpoints: …, adapter: RedisAdapter(configuration: configuration))
/// ```
public struct RedisAdapterConfiguration: Sendable, Hashable {
    /// The Redis server.
    public var url: RedisURL
    /// This node's name; must be unique in the cluster.
    public var nodeName: String
    /// How to speak TLS to a `rediss://` ``url`` (certificates trusted and
    /// presented, server name); must stay at its defaults for `redis://`.
    public var tls = RedisTLSConfiguration()
    /// The ACL user the sentinels of a `redis+sentinel://` ``url`` want
    /// (`AUTH user password`); `nil` for a password alone.
    public var sentinelUsername: String?
    /// The sentinels' password (their `requirepass`); `nil` when they have
    /// none. The master's credentials are the URL's.
    public var sentinelPassword: String?
    /// After a sentinel announced a failover (`+switch-master`), how long
    /// connections to the old master stay before they move to the new one.
    /// The old master, while still reachable, goes on as a master (taking
    /// publishes and delivering them to its subscribers) until the sentinels
    /// turn it into a replica, which Redis 7.0 does about 8 s later: the
    /// nodes leave it on their own. Publishers move first and, with an
    /// ``outageBuffer``, wait ``outageReplayDelay`` on the new master before
    /// publishing; subscribers move a third of that delay after them. With
    /// the buffer, nothing is lost as long as the nodes hear of the failover
    /// within that third of each other (they ask the sentinels in the same
    /// order, so usually hear it from the same one).
    public var sentinelSwitchGrace: Duration = .seconds(2)
    /// Prefix of every Redis channel name, so that several clusters can
    /// share one Redis; an ACL user can be limited to these channels
    /// (`&<prefix>:*`).
    public var channelPrefix: String = "switchboard"
    /// One Redis channel per topic, or one for everything.
    public var mode: RedisMode = .perTopic
    /// Publisher connections; a topic always goes through the same one, so
    /// its broadcasts stay in order.
    public var publishers: Int = 1
    /// Bound on connecting (TCP and the AUTH/SELECT handshake), and on how long
    /// a join waits for its SUBSCRIBE to be confirmed.
    public var connectTimeout: Duration = .seconds(5)
    /// Messages kept by this node, over all its publisher connections (a
    /// cluster's shards included), while Redis is unreachable, and replayed
    /// in order on reconnect (each connection's in its order); 0 drops them
    /// (at-most-once). Above 0, a message written to Redis is also kept
    /// until Redis answers its `PUBLISH` (up to this many per connection),
    /// and re-sent, ahead of the buffer, if the connection is lost first, as
    /// far as the buffer has room: nothing is lost, but a message Redis
    /// executed just before the connection went (its reply lost) arrives
    /// twice. ``outageBufferBytes`` bounds the same buffer in bytes.
    public var outageBuffer: Int = 0
    /// The bytes (of formatted `PUBLISH` commands) the outage buffer may
    /// hold, over all the node's publisher connections, with
    /// ``outageBuffer`` on; whichever limit is reached first applies.
    public var outageBufferBytes: Int = 64 << 20
    /// How long a reconnected publisher waits before replaying its outage
    /// buffer, so that the other nodes' subscribers are back to receive it;
    /// keep it above ``reconnectBackoff``'s maximum.
    public var outageReplayDelay: Duration = .milliseconds(2500)
    /// How often a probe is published to this node's own channel (while none
    /// is outstanding), to check that Redis answers and that the subscriber
    /// connection still receives; on a Redis Cluster in per-topic mode, to a
    /// probe channel of each shard, which checks that shard's connections.
    public var probeInterval: Duration = .milliseconds(500)
    /// How long a probe may take: unanswered by then, Redis counts as silent
    /// (stopped, hung) and every connection (of the shard) is replaced; answered but not
    /// back, the subscriber connection is. A silent Redis is noticed within
    /// ``probeInterval`` plus this.
    public var probeTimeout: Duration = .seconds(1)
    /// How often the slot map of a Redis Cluster (`redis+cluster://`) is
    /// read again when nothing asked for it sooner (a `MOVED` answer, a
    /// channel dropped by a shard, a lost connection each trigger a read at
    /// once); the same interval checks that every wanted channel is
    /// subscribed on its shard.
    public var clusterRefreshInterval: Duration = .seconds(5)
    /// On a Redis Cluster, how long a publisher connection to a master that
    /// is new to this node (after a failover or a reshard onto it) holds
    /// what it is given before publishing it there, so that the other
    /// nodes, which heard of the change at the same moment, have their
    /// subscribers there first. Delivery for that master's slots pauses
    /// this long; a reconnect to a known master waits ``outageReplayDelay``.
    public var clusterSwitchDelay: Duration = .milliseconds(500)
    /// Behind Sentinel, how often each publisher connection asks its server
    /// `ROLE`, and leaves it when it is no longer the master (a failover
    /// whose announcement did not reach this node); zero turns it off.
    public var roleCheckInterval: Duration = .seconds(5)
    /// Delays between reconnect attempts.
    public var reconnectBackoff = RedisBackoff()
    /// Largest message accepted from Redis, in bytes (bounds what a reply may allocate).
    public var maxMessageSize: Int = 16 << 20
    /// Under sustained load (hundreds of publishes unanswered and more
    /// arriving while a batch is written), how long the next batch may gather
    /// before it is written: fewer, larger writes, for Redis and for this
    /// node. A connection that is not that busy writes at once, so this adds
    /// no latency at moderate rates. Zero turns it off.
    public var publishCoalescing: Duration = .microseconds(250)
    /// Publishes one publisher connection may have unanswered; beyond it new
    /// ones are dropped and counted.
    public var maxPublishesInFlight: Int = 100_000

    public init(url: RedisURL, nodeName: String) {
        self.url = url
        self.nodeName = nodeName
    }

    /// The Redis channel of `topic` in per-topic mode.
    func topicChannel(_ topic: String) -> RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "t:", name: topic)
    }

    /// The Redis channel of node-direct messages to `node`.
    func nodeChannel(_ node: String) -> RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "n:", name: node)
    }

    /// A Redis Cluster shard's probe channel, `<prefix>:p:{<tag>}<node>`:
    /// the hash tag places it in a slot (``RedisClusterShards`` picks a tag
    /// whose slot the shard's master serves).
    func probeChannel(_ node: String, tag: Int) -> RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "p:", name: "{\(tag)}\(node)")
    }

    /// The channel a publisher connection publishes an empty message to
    /// when it connects, to check its ACL rights; nobody subscribes to it.
    var publishCheckChannel: RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "", name: "access-check:publish")
    }

    /// The channel the subscriber connection subscribes to and unsubscribes
    /// from at once when it connects, to check its ACL rights. Nobody
    /// publishes to it: a message arriving between the two would be taken
    /// for a reply.
    var subscribeCheckChannel: RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "", name: "access-check:subscribe")
    }

    /// The one Redis channel of global mode.
    var globalChannel: RedisChannelName {
        RedisChannelName(prefix: channelPrefix, kind: "", name: "global")
    }
}
