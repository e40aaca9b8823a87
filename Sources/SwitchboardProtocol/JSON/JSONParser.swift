/// A strict RFC 8259 parser over a contiguous run of bytes, producing a
/// ``JSONValue``.
///
/// Recursive descent: `parseValue` calls itself once per nesting level, and a
/// container is refused before it is opened once `maxDepth` levels are open,
/// so hostile nesting costs at most `maxDepth` stack frames. Error details
/// name the byte offset from the start of `bytes`.
///
/// The parser only lives inside a `withUnsafe…Bytes` closure: use ``parse(_:maxDepth:)``.
struct JSONParser {
    /// The whole input.
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The next byte to look at.
    private var index: Int
    /// The deepest nesting of arrays and objects accepted.
    private let maxDepth: Int
    /// Reused by strings that contain escapes (they cannot be sliced as they are).
    private var scratch: [UInt8] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.index = 0
        self.maxDepth = max(0, maxDepth)
    }

    /// Parses all of `bytes` as one JSON text: a value with optional whitespace around it.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws(ProtocolError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw .invalidJSON("unexpected data after the JSON value at offset \(parser.index)")
        }
        return value
    }

    /// Parses all of `bytes` as a JSON array of exactly five elements (a V2
    /// message), without building the array: `nil` for anything else or any
    /// error, which the caller then parses with ``parse(_:maxDepth:)`` to
    /// report it. `maxDepth` counts the array itself, as in `parse`.
    static func parseFiveElementArray(
        _ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int
    ) -> (JSONValue, JSONValue, JSONValue, JSONValue, JSONValue)? {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        guard parser.maxDepth >= 1 else { return nil }
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "[") else { return nil }
        parser.index += 1
        do {
            let first = try parser.parseElement(separator: UInt8(ascii: ","))
            let second = try parser.parseElement(separator: UInt8(ascii: ","))
            let third = try parser.parseElement(separator: UInt8(ascii: ","))
            let fourth = try parser.parseElement(separator: UInt8(ascii: ","))
            let fifth = try parser.parseElement(separator: UInt8(ascii: "]"))
            parser.skipWhitespace()
            guard parser.index == bytes.count else { return nil }
            return (first, second, third, fourth, fifth)
        } catch {
            return nil
        }
    }

    /// One element of the top-level array and the byte that must follow it.
    private mutating func parseElement(separator: UInt8) throws(ProtocolError) -> JSONValue {
        self.skipWhitespace()
        let value = try self.parseValue(depth: 1)
        self.skipWhitespace()
        guard self.peek() == separator else { throw .invalidJSON("") }
        self.index += 1
        return value
    }

    // MARK: Values

    /// Parses the value that starts at `index`; `depth` containers enclose it.
    private mutating func parseValue(depth: Int) throws(ProtocolError) -> JSONValue {
        guard self.index < self.bytes.count else {
            throw .invalidJSON("unexpected end of input at offset \(self.index), expected a value")
        }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"):
            return .object(try self.parseObject(depth: depth))
        case UInt8(ascii: "["):
            return .array(try self.parseArray(depth: depth))
        case UInt8(ascii: "\""):
            return .string(try self.parseString())
        case UInt8(ascii: "t"):
            try self.expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try self.parseNumber()
        default:
            throw self.unexpectedByte(expected: "a value")
        }
    }

    /// `[` value (`,` value)* `]`, or `[]`. `index` is at the `[`.
    private mutating func parseArray(depth: Int) throws(ProtocolError) -> [JSONValue] {
        guard depth < self.maxDepth else { throw .tooDeep(limit: self.maxDepth) }
        self.index += 1
        self.skipWhitespace()
        var elements: [JSONValue] = []
        if self.peek() == UInt8(ascii: "]") {
            self.index += 1
            return elements
        }
        while true {
            elements.append(try self.parseValue(depth: depth + 1))
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
                self.skipWhitespace()
            case UInt8(ascii: "]"):
                self.index += 1
                return elements
            default:
                throw self.unexpectedByte(expected: "',' or ']'")
            }
        }
    }

    /// `{` string `:` value (`,` string `:` value)* `}`, or `{}`. `index` is at the `{`.
    private mutating func parseObject(depth: Int) throws(ProtocolError) -> JSONObject {
        guard depth < self.maxDepth else { throw .tooDeep(limit: self.maxDepth) }
        self.index += 1
        self.skipWhitespace()
        var object = JSONObject()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return object
        }
        while true {
            guard self.peek() == UInt8(ascii: "\"") else {
                throw self.unexpectedByte(expected: "a string key")
            }
            let key = try self.parseString()
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: ":") else {
                throw self.unexpectedByte(expected: "':'")
            }
            self.index += 1
            self.skipWhitespace()
            object[key] = try self.parseValue(depth: depth + 1)
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
                self.skipWhitespace()
            case UInt8(ascii: "}"):
                self.index += 1
                return object
            default:
                throw self.unexpectedByte(expected: "',' or '}'")
            }
        }
    }

    /// `true`, `false` or `null`, spelled exactly.
    private mutating func expectLiteral(_ literal: StaticString) throws(ProtocolError) {
        let start = self.index
        let count = literal.utf8CodeUnitCount
        guard self.bytes.count - start >= count else {
            throw .invalidJSON("invalid literal at offset \(start)")
        }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where self.bytes[start + offset] != expected[offset] {
            throw .invalidJSON("invalid literal at offset \(start)")
        }
        self.index += count
    }

    // MARK: Numbers

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    ///
    /// The integer part is accumulated as a negative number while scanning (so
    /// `Int.min` fits); only numbers with a fraction, an exponent or too many
    /// digits go through `Double`'s correctly rounded conversion.
    private mutating func parseNumber() throws(ProtocolError) -> JSONValue {
        let start = self.index
        let negative = self.bytes[self.index] == UInt8(ascii: "-")
        if negative { self.index += 1 }

        guard let first = self.peek(), Self.isDigit(first) else {
            throw self.unexpectedByte(expected: "a digit")
        }
        var accumulator = 0  // minus the magnitude of the integer part
        var overflowed = false
        if first == UInt8(ascii: "0") {
            self.index += 1
            if let next = self.peek(), Self.isDigit(next) {
                throw .invalidJSON("leading zero in a number at offset \(start)")
            }
        } else {
            while let byte = self.peek(), Self.isDigit(byte) {
                if !overflowed {
                    let (times10, o1) = accumulator.multipliedReportingOverflow(by: 10)
                    let (next, o2) = times10.subtractingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
                    accumulator = next
                    overflowed = o1 || o2
                }
                self.index += 1
            }
        }

        var isInteger = true
        if self.peek() == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            try self.skipDigits(after: "'.'")
        }
        if let byte = self.peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            isInteger = false
            self.index += 1
            if let sign = self.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                self.index += 1
            }
            try self.skipDigits(after: "the exponent")
        }

        if isInteger && !overflowed {
            if negative { return .int(accumulator) }
            if accumulator != .min { return .int(-accumulator) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw .invalidJSON("number out of range at offset \(start)")
        }
        return .double(value)
    }

    /// One or more digits.
    private mutating func skipDigits(after what: String) throws(ProtocolError) {
        guard let first = self.peek(), Self.isDigit(first) else {
            throw self.unexpectedByte(expected: "a digit after \(what)")
        }
        self.index += 1
        while let byte = self.peek(), Self.isDigit(byte) {
            self.index += 1
        }
    }

    // MARK: Strings

    /// A string; `index` is at the opening quote and ends past the closing one.
    ///
    /// Fast path: a string without escapes is validated in place and decoded
    /// from its slice in one go. The first backslash switches to copying into
    /// `scratch`, run by run.
    private mutating func parseString() throws(ProtocolError) -> String {
        self.index += 1
        let start = self.index
        while true {
            guard self.index < self.bytes.count else {
                throw .invalidJSON("unterminated string at offset \(start - 1)")
            }
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                let string = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
                self.index += 1
                return string
            case UInt8(ascii: "\\"):
                return try self.parseEscapedString(from: start)
            case 0..<0x20:
                throw self.controlCharacter(byte)
            case 0x20..<0x80:
                self.index += 1
            default:
                self.index += try self.utf8SequenceLength()
            }
        }
    }

    /// The rest of a string that contains escapes: the bytes `start..<index`
    /// are already validated and `index` is at a backslash.
    private mutating func parseEscapedString(from start: Int) throws(ProtocolError) -> String {
        self.scratch.removeAll(keepingCapacity: true)
        var runStart = start
        while true {
            guard self.index < self.bytes.count else {
                throw .invalidJSON("unterminated string at offset \(start - 1)")
            }
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                self.scratch.append(contentsOf: UnsafeBufferPointer(rebasing: self.bytes[runStart..<self.index]))
                self.index += 1
                return String(decoding: self.scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                self.scratch.append(contentsOf: UnsafeBufferPointer(rebasing: self.bytes[runStart..<self.index]))
                try self.parseEscape()
                runStart = self.index
            case 0..<0x20:
                throw self.controlCharacter(byte)
            case 0x20..<0x80:
                self.index += 1
            default:
                self.index += try self.utf8SequenceLength()
            }
        }
    }

    /// One escape sequence, `index` at its backslash; appends its UTF-8 to `scratch`.
    private mutating func parseEscape() throws(ProtocolError) {
        let escapeStart = self.index
        guard self.index + 1 < self.bytes.count else {
            throw .invalidJSON("unterminated string at offset \(escapeStart)")
        }
        let replacement: UInt8
        switch self.bytes[self.index + 1] {
        case UInt8(ascii: "\""): replacement = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): replacement = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): replacement = UInt8(ascii: "/")
        case UInt8(ascii: "b"): replacement = 0x08
        case UInt8(ascii: "f"): replacement = 0x0C
        case UInt8(ascii: "n"): replacement = 0x0A
        case UInt8(ascii: "r"): replacement = 0x0D
        case UInt8(ascii: "t"): replacement = 0x09
        case UInt8(ascii: "u"):
            self.index += 2
            let scalar = try self.parseUnicodeEscape(escapeStart: escapeStart)
            self.appendUTF8(scalar)
            return
        default:
            throw .invalidJSON("invalid escape sequence at offset \(escapeStart)")
        }
        self.scratch.append(replacement)
        self.index += 2
    }

    /// The scalar of `\uXXXX` (or of a `\uD8xx\uDCxx` surrogate pair);
    /// `index` is past the `\u` and ends past the last hex digit.
    private mutating func parseUnicodeEscape(escapeStart: Int) throws(ProtocolError) -> UInt32 {
        let unit = try self.parseHex4(escapeStart: escapeStart)
        switch unit {
        case 0xD800...0xDBFF:
            let lowStart = self.index
            guard self.bytes.count - lowStart >= 2,
                self.bytes[lowStart] == UInt8(ascii: "\\"),
                self.bytes[lowStart + 1] == UInt8(ascii: "u")
            else {
                throw .invalidJSON("lone surrogate in \\u escape at offset \(escapeStart)")
            }
            self.index += 2
            let low = try self.parseHex4(escapeStart: lowStart)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw .invalidJSON("lone surrogate in \\u escape at offset \(escapeStart)")
            }
            return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        case 0xDC00...0xDFFF:
            throw .invalidJSON("lone surrogate in \\u escape at offset \(escapeStart)")
        default:
            return unit
        }
    }

    /// Four hex digits.
    private mutating func parseHex4(escapeStart: Int) throws(ProtocolError) -> UInt32 {
        guard self.bytes.count - self.index >= 4 else {
            throw .invalidJSON("invalid \\u escape at offset \(escapeStart)")
        }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .invalidJSON("invalid \\u escape at offset \(escapeStart)")
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }

    /// Appends the UTF-8 encoding of a scalar (never a surrogate) to `scratch`.
    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            self.scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            self.scratch.append(0xC0 | UInt8(scalar >> 6))
            self.scratch.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            self.scratch.append(0xE0 | UInt8(scalar >> 12))
            self.scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            self.scratch.append(0x80 | UInt8(scalar & 0x3F))
        default:
            self.scratch.append(0xF0 | UInt8(scalar >> 18))
            self.scratch.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            self.scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            self.scratch.append(0x80 | UInt8(scalar & 0x3F))
        }
    }

    /// The length of the well-formed multi-byte UTF-8 sequence at `index`
    /// (Unicode table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
    private func utf8SequenceLength() throws(ProtocolError) -> Int {
        let lead = self.bytes[self.index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw .invalidJSON("invalid UTF-8 at offset \(self.index)")
        }
        guard self.bytes.count - self.index >= length,
            secondRange.contains(self.bytes[self.index + 1])
        else {
            throw .invalidJSON("invalid UTF-8 at offset \(self.index)")
        }
        for offset in 2..<length where self.bytes[self.index + offset] & 0xC0 != 0x80 {
            throw .invalidJSON("invalid UTF-8 at offset \(self.index)")
        }
        return length
    }

    // MARK: Helpers

    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    /// Skips the four whitespace bytes of RFC 8259: space, tab, LF, CR.
    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private func unexpectedByte(expected: String) -> ProtocolError {
        guard self.index < self.bytes.count else {
            return .invalidJSON("unexpected end of input at offset \(self.index), expected \(expected)")
        }
        let byte = self.bytes[self.index]
        let shown = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : Self.hex(byte)
        return .invalidJSON("unexpected \(shown) at offset \(self.index), expected \(expected)")
    }

    private func controlCharacter(_ byte: UInt8) -> ProtocolError {
        .invalidJSON("unescaped control character \(Self.hex(byte)) in a string at offset \(self.index)")
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
    }
}
