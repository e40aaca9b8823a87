/// The hash slot of a key or shard channel in a Redis Cluster: CRC16
/// (XMODEM) of the name modulo 16384, where a name with a hash tag — a
/// non-empty `{…}`, the first `{` and the first `}` after it — counts only
/// the tag, as Redis's `keyHashSlot` does. `CLUSTER KEYSLOT` gives the same.
package enum RedisClusterSlot {
    /// Slots in a Redis Cluster.
    package static let count = 16384

    /// The slot of `name`.
    package static func of(_ name: some Collection<UInt8>) -> Int {
        let slot = name.withContiguousStorageIfAvailable { of(UnsafeRawBufferPointer($0)) }
        return slot ?? of(Array(name))
    }

    /// The slot of `name`.
    package static func of(_ name: String) -> Int {
        of(name.utf8)
    }

    /// The slot of the name in `bytes`.
    static func of(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return Int(crc16(bytes[(open + 1)..<close]) & 0x3FFF)
        }
        return Int(crc16(bytes[...]) & 0x3FFF)
    }

    /// Whether `message`, an error reply, says the command went to a node
    /// that does not serve its slot now: `MOVED`, `ASK`, `TRYAGAIN` (a
    /// migration under way) or `CLUSTERDOWN` (slots without a master).
    static func isRedirection(_ message: String) -> Bool {
        message.hasPrefix("MOVED ") || message.hasPrefix("ASK ") || message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN")
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0.
    private static func crc16(_ bytes: Slice<UnsafeRawBufferPointer>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
