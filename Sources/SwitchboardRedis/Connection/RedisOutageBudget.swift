import NIOConcurrencyHelpers

/// The room of a node's outage buffer, shared by every publisher connection
/// of its adapter (a cluster's shards included): at most
/// ``RedisAdapterConfiguration/outageBuffer`` messages and
/// ``RedisAdapterConfiguration/outageBufferBytes`` bytes in all.
///
/// Each publisher keeps its own queue, so that its messages stay in order,
/// and takes room here before it buffers one (``reserve(bytes:)``), giving it
/// back once the message is replayed or thrown away (``release(messages:bytes:)``).
/// Only buffering touches it: a publish on a live connection does not.
final class RedisOutageBudget: Sendable {
    /// What is held now.
    struct Usage: Sendable, Hashable {
        var messages = 0
        var bytes = 0
    }

    let maxMessages: Int
    let maxBytes: Int
    private let usage = NIOLockedValueBox(Usage())

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    /// Whether the outage buffer is on.
    var isOn: Bool { maxMessages > 0 }

    /// Takes room for one message of `bytes`; `false` when either limit would be passed.
    func reserve(bytes: Int) -> Bool {
        usage.withLockedValue { usage in
            guard usage.messages < maxMessages, usage.bytes + bytes <= maxBytes else { return false }
            usage.messages += 1
            usage.bytes += bytes
            return true
        }
    }

    /// Gives back the room of `messages` messages of `bytes` in all.
    func release(messages: Int, bytes: Int) {
        guard messages > 0 else { return }
        usage.withLockedValue { usage in
            usage.messages -= messages
            usage.bytes -= bytes
            assert(usage.messages >= 0 && usage.bytes >= 0, "the outage buffer released more than it held")
        }
    }

    /// What the buffer holds now, over every connection.
    var current: Usage {
        usage.withLockedValue { $0 }
    }
}
