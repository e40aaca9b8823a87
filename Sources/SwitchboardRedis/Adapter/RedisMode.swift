/// How broadcasts are laid over Redis channels.
public enum RedisMode: String, Sendable, Hashable, CaseIterable {
    /// One Redis channel per topic, SUBSCRIBEd while the topic has local
    /// subscribers: a node only receives what it needs.
    case perTopic = "per_topic"
    /// One Redis channel for every broadcast, each node filtering what it
    /// receives (as phoenix_pubsub_redis does): a fixed subscription, more
    /// traffic per node.
    case global
}
