/// Percent-decoding of URL parts (`two%20words`) into UTF-8 text, shared by
/// query strings and Redis URLs.
package enum PercentDecoding {
    /// `text` with every `%XX` escape decoded, and `+` read as a space when
    /// `plusIsSpace` (query strings); `nil` if an escape is malformed or the
    /// result is not UTF-8.
    package static func decode(_ text: Substring, plusIsSpace: Bool) -> String? {
        guard isEncoded(text, plusIsSpace: plusIsSpace) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Whether `text` has anything to decode: a `%`, or a `+` when `plusIsSpace`.
    package static func isEncoded(_ text: Substring, plusIsSpace: Bool) -> Bool {
        text.utf8.contains { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
