import NIOCore

/// Writes compact JSON straight into a `ByteBuffer`: the encoder behind
/// ``JSONValue/encode(into:)`` and the serializers' envelopes.
enum JSONWriter {
    static func write(_ value: JSONValue, into buffer: inout ByteBuffer) {
        switch value {
        case .null:
            buffer.writeStaticString("null")
        case .bool(let bool):
            if bool { buffer.writeStaticString("true") } else { buffer.writeStaticString("false") }
        case .int(let int):
            self.writeInt(int, into: &buffer)
        case .double(let double):
            self.writeDouble(double, into: &buffer)
        case .string(let string):
            self.writeString(string, into: &buffer)
        case .array(let array):
            buffer.writeInteger(UInt8(ascii: "["))
            var first = true
            for element in array {
                if !first { buffer.writeInteger(UInt8(ascii: ",")) }
                first = false
                self.write(element, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let object):
            buffer.writeInteger(UInt8(ascii: "{"))
            var first = true
            for (key, member) in object {
                if !first { buffer.writeInteger(UInt8(ascii: ",")) }
                first = false
                self.writeString(key, into: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                self.write(member, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// A JSON string, or `null` for `nil` (how refs are written).
    static func writeOptionalString(_ string: String?, into buffer: inout ByteBuffer) {
        if let string {
            self.writeString(string, into: &buffer)
        } else {
            buffer.writeStaticString("null")
        }
    }

    /// A quoted JSON string. Fast path: a string with nothing to escape is
    /// copied, quotes included, in one write; otherwise runs of bytes that
    /// need no escape are copied in one go each.
    static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        var string = string
        string.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            guard let firstEscape = utf8.firstIndex(where: Self.needsEscape) else {
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: raw.count + 2) { out in
                    out[0] = UInt8(ascii: "\"")
                    UnsafeMutableRawBufferPointer(rebasing: out[1..<(raw.count + 1)]).copyMemory(from: raw)
                    out[raw.count + 1] = UInt8(ascii: "\"")
                    return raw.count + 2
                }
                return
            }
            buffer.reserveCapacity(minimumWritableBytes: raw.count + 2)
            buffer.writeInteger(UInt8(ascii: "\""))
            var runStart = 0
            for index in firstEscape..<utf8.count where Self.needsEscape(utf8[index]) {
                if runStart < index {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                }
                self.writeEscape(for: utf8[index], into: &buffer)
                runStart = index + 1
            }
            if runStart < raw.count {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<raw.count]))
            }
            buffer.writeInteger(UInt8(ascii: "\""))
        }
    }

    /// `"`, `\` and the control characters U+0000–U+001F.
    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// The escape of `"`, `\` or a control character: the short form where
    /// JSON has one, else `\u00XX`.
    private static func writeEscape(for byte: UInt8, into buffer: inout ByteBuffer) {
        let short: UInt8
        switch byte {
        case UInt8(ascii: "\""): short = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): short = UInt8(ascii: "\\")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        default:
            let hexDigits: StaticString = "0123456789abcdef"
            let hex = hexDigits.utf8Start
            buffer.writeMultipleIntegers(
                UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]
            )
            return
        }
        buffer.writeMultipleIntegers(UInt8(ascii: "\\"), short)
    }

    /// Decimal digits, without going through `String`.
    static func writeInt(_ value: Int, into buffer: inout ByteBuffer) {
        if value >= 0 && value < 10 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(value))
            return
        }
        // Int.min is 19 digits and a sign.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value.magnitude
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[start...]))
        }
    }

    /// The shortest text that reads back as the same `Double` (Swift's
    /// `description`, which is always a valid JSON number for finite values:
    /// `1.0`, `-0.0`, `1e-07`, `1e+16`); `null` for infinities and NaN.
    static func writeDouble(_ value: Double, into buffer: inout ByteBuffer) {
        guard value.isFinite else {
            buffer.writeStaticString("null")
            return
        }
        buffer.writeString(value.description)
    }
}
