/// What a connection checks at the end of its handshake that its ACL user
/// may do, so that a user without the rights fails at connect with a clear
/// ``RedisAdapterError/permissionDenied(url:command:message:needed:)``
/// instead of a node that starts and then cannot deliver.
///
/// Redis 7's `ACL DRYRUN` would say the same without side effects, but it
/// takes the admin rights an application's user should not have; the real
/// commands need no more than the adapter uses anyway.
struct RedisAccessCheck: Sendable {
    /// The commands sent, in order.
    let commands: [[RedisArgument]]
    /// How each command is named in an error.
    let commandNames: [String]
    /// The rights the adapter's user needs, for the error message.
    let needed: String

    /// A publisher connection: `PUBLISH` of an empty message on `channel`,
    /// a channel under the prefix that nobody subscribes to.
    static func publish(channel: String, prefix: String) -> RedisAccessCheck {
        RedisAccessCheck(
            commands: [["PUBLISH", .string(channel), ""]],
            commandNames: ["PUBLISH \(channel)"],
            needed: needed(prefix: prefix)
        )
    }

    /// A subscriber connection: `SUBSCRIBE` then `UNSUBSCRIBE` of `channel`,
    /// which leaves the connection out of subscribe mode; nothing may be
    /// published to it (a message between the two would be taken for a reply).
    static func subscribe(channel: String, prefix: String) -> RedisAccessCheck {
        RedisAccessCheck(
            commands: [["SUBSCRIBE", .string(channel)], ["UNSUBSCRIBE", .string(channel)]],
            commandNames: ["SUBSCRIBE \(channel)", "UNSUBSCRIBE \(channel)"],
            needed: needed(prefix: prefix)
        )
    }

    /// The ACL rules the README documents for the adapter's user.
    static func needed(prefix: String) -> String {
        "+publish +subscribe +unsubscribe +ping (+client|setname, and +select for a database other than 0) on the channels &\(prefix):*"
    }
}
