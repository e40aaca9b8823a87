/// Writes big-endian integers and bytes into memory known to be large enough.
struct RawWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
    }

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        if let source = bytes.baseAddress {
            (base + offset).copyMemory(from: source, byteCount: bytes.count)
        }
        offset += bytes.count
    }

    /// A u16 length, then the UTF-8 bytes.
    mutating func putShort(_ string: String) {
        put(UInt16(string.utf8.count))
        put(string)
    }

    /// The UTF-8 bytes alone.
    mutating func put(_ string: String) {
        let written: Void? = string.utf8.withContiguousStorageIfAvailable { put(UnsafeRawBufferPointer($0)) }
        if written == nil {
            var copy = string
            copy.withUTF8 { put(UnsafeRawBufferPointer($0)) }
        }
    }
}
