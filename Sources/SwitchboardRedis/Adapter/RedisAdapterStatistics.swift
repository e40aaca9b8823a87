/// A snapshot of a ``RedisAdapter``'s counters, all since it was made.
public struct RedisAdapterStatistics: Sendable, Hashable {
    /// Messages (broadcasts and node-direct) handed to a publisher connection.
    public var published = 0
    /// Publishes Redis acknowledged.
    public var acknowledged = 0
    /// Publishes Redis answered with an error.
    public var publishErrors = 0
    /// Publishes written but unanswered when their connection was lost (they
    /// may or may not have gone out; with the outage buffer on, they are
    /// also counted in ``buffered`` and re-sent, as far as the buffer has
    /// room; those it has no room for are counted in ``dropped``).
    public var unconfirmed = 0
    /// Messages from other nodes delivered to this node's subscribers.
    public var received = 0
    /// Messages not published: Redis unreachable (and no room in the outage
    /// buffer) or too many publishes in flight.
    public var dropped = 0
    /// Messages kept in the outage buffer while Redis was unreachable, and
    /// those Redis had not answered when their connection was lost.
    public var buffered = 0
    /// Messages of the outage buffer published after a reconnect.
    public var replayed = 0
    /// Messages in the outage buffer now, over every publisher connection.
    public var outageBufferMessages = 0
    /// Bytes in the outage buffer now, over every publisher connection.
    public var outageBufferBytes = 0
    /// Connections re-established after a loss.
    public var reconnects = 0
    /// Received messages that were not a valid envelope (unknown versions included).
    public var malformedEnvelopes = 0
    /// Received envelopes from another process using this node's name.
    public var duplicateNodeEnvelopes = 0
    /// Probes that did not come back in time (each led to a reconnect).
    public var probeFailures = 0

    public init() {}
}
