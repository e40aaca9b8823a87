import NIOCore

/// A Redis channel name, `<prefix>:<kind><name>` (`switchboard:t:room:lobby`),
/// kept in parts so that publishing writes it without building a string.
struct RedisChannelName: Sendable, Hashable, CustomStringConvertible {
    var prefix: String
    /// `t:` for a topic, `n:` for a node, `p:` for a cluster shard's probe,
    /// empty for the global channel.
    var kind: String
    var name: String

    var description: String {
        "\(prefix):\(kind)\(name)"
    }

    var byteCount: Int {
        prefix.utf8.count + 1 + kind.utf8.count + name.utf8.count
    }

    func write(into cursor: inout RawWriter) {
        cursor.put(prefix)
        cursor.put(UInt8(ascii: ":"))
        cursor.put(kind)
        cursor.put(name)
    }

    /// Its Redis Cluster hash slot, without building the name as a string
    /// (it is spelled out on the stack): once per publish in cluster mode.
    var slot: Int {
        withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 1) { buffer in
            var cursor = RawWriter(buffer)
            write(into: &cursor)
            return RedisClusterSlot.of(UnsafeRawBufferPointer(buffer))
        }
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeString(prefix)
        buffer.writeInteger(UInt8(ascii: ":"))
        buffer.writeString(kind)
        buffer.writeString(name)
    }
}
