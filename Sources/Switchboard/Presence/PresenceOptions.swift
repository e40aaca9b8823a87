/// How presence is kept and spread (``ServerConfiguration/presence``).
public struct PresenceOptions: Sendable {
    /// Changes are gathered this long before they go to other nodes and, as
    /// one `presence_diff` per topic, to this node's subscribers: a room
    /// that thousands join at once gets a few diffs a second, not thousands.
    public var batchWindow: Duration = .milliseconds(50)
    /// How often a node tells the others it is alive, and how far along its
    /// changes are (a node that missed one asks for the whole state).
    public var heartbeatInterval: Duration = .seconds(1)
    /// A node not heard from for this long is down: its presences leave everywhere.
    public var downAfter: Duration = .milliseconds(3500)
    /// A client the server closed to move it (shed, drain) that joins the
    /// same topic with the same key within this time shows no leave: its
    /// leave and its new join go out in one diff (it stays listed).
    public var rejoinGrace: Duration = .seconds(5)
    /// Largest meta a presence may carry, in bytes of JSON.
    public var maxMetaBytes = 4096
    /// Adds data to the presences clients are given (Phoenix's `fetch/2`):
    /// called with a topic and its presences as `presence_state` has them,
    /// `{key: {"metas": […]}}`, it returns them with more fields beside
    /// `metas` (a user's name and avatar, say), and keeps every key. It runs
    /// once per `presence_state`, once per diff half per node (not once per
    /// subscriber) and for ``Presences/list(topic:)``, on an event loop:
    /// keep it quick, read from a cache rather than a database.
    public var fetch: PresenceFetch?

    public init() {}
}
