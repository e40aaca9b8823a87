/// What a connection checks at the end of its handshake that its ACL user
/// may do, so that a user without the rights fails at connect with a clear
/// ``RedisAdapterError/permissionDenied(url:command:message:needed:)``
/// instead of a node that starts and then cannot deliver.
///
/// Redis 7's `ACL DRYRUN` would say the same without side effects, but it
/// takes the admin rights an application's user should not have; the real
/// commands need no more than the adapter uses anyway.
///
/// On a Redis Cluster (``sharded``) the commands are `SPUBLISH`,
/// `SSUBSCRIBE` and `SUNSUBSCRIBE`, and the check channel's slot is served
/// by one master only: the others answer `MOVED`. Redis (7.0 and later)
/// checks the ACL before it looks at the slot, so a `MOVED` (or another
/// cluster redirection) means the user has the right: the check counts it
/// as passed, and a user without the right gets `NOPERM` from every master.
struct RedisAccessCheck: Sendable {
    /// The commands sent, in order.
    let commands: [[RedisArgument]]
    /// How each command is named in an error.
    let commandNames: [String]
    /// The rights the adapter's user needs, for the error message.
    let needed: String
    /// Sharded pub/sub on a cluster: a redirection passes the check.
    let sharded: Bool

    /// A publisher connection: `PUBLISH` (`SPUBLISH` when `sharded`) of an
    /// empty message on `channel`, a channel under the prefix that nobody
    /// subscribes to.
    static func publish(channel: String, prefix: String, sharded: Bool = false) -> RedisAccessCheck {
        let command = sharded ? "SPUBLISH" : "PUBLISH"
        return RedisAccessCheck(
            commands: [[.string(command), .string(channel), ""]],
            commandNames: ["\(command) \(channel)"],
            needed: needed(prefix: prefix, sharded: sharded),
            sharded: sharded
        )
    }

    /// A subscriber connection: `SUBSCRIBE` then `UNSUBSCRIBE` of `channel`
    /// (`SSUBSCRIBE` and `SUNSUBSCRIBE` when `sharded`), which leaves the
    /// connection out of subscribe mode; nothing may be published to it (a
    /// message between the two would be taken for a reply).
    static func subscribe(channel: String, prefix: String, sharded: Bool = false) -> RedisAccessCheck {
        let (subscribe, unsubscribe) = sharded ? ("SSUBSCRIBE", "SUNSUBSCRIBE") : ("SUBSCRIBE", "UNSUBSCRIBE")
        return RedisAccessCheck(
            commands: [[.string(subscribe), .string(channel)], [.string(unsubscribe), .string(channel)]],
            commandNames: ["\(subscribe) \(channel)", "\(unsubscribe) \(channel)"],
            needed: needed(prefix: prefix, sharded: sharded),
            sharded: sharded
        )
    }

    /// The ACL rules the README documents for the adapter's user.
    static func needed(prefix: String, sharded: Bool = false) -> String {
        sharded
            ? "+spublish +ssubscribe +sunsubscribe +ping +cluster|slots (+client|setname) on the channels &\(prefix):*, on every node of the cluster"
            : "+publish +subscribe +unsubscribe +ping (+client|setname, and +select for a database other than 0) on the channels &\(prefix):*"
    }

    /// Whether `message`, the error answer to one of the commands, still
    /// shows the right: a cluster's redirection of a sharded command.
    func passes(_ message: String) -> Bool {
        sharded && RedisClusterSlot.isRedirection(message)
    }
}
