import NIOCore
import OrderedCollections

/// A JSON object whose keys keep the order in which they were written or parsed.
public typealias JSONObject = OrderedDictionary<String, JSONValue>

/// A JSON document, as carried in Phoenix payloads.
///
/// Integers that fit in 64 bits stay exact (`.int`); other numbers are `.double`.
/// Objects keep their key order, so a payload passed through the server is
/// written back exactly as the client sent it.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

// MARK: - Parsing and encoding

extension JSONValue {
    /// Parses the readable bytes of `buffer` as one strict RFC 8259 JSON text.
    ///
    /// Rejects trailing data, trailing commas, leading zeros, control
    /// characters and invalid UTF-8 in strings, and lone surrogates in `\u`
    /// escapes; error details give the byte offset from the reader index.
    /// A number without fraction or exponent that fits in `Int` is `.int`,
    /// any other number `.double` (`-0` is `.int(0)`, `-0.0` is `.double(-0.0)`);
    /// a number too large for a `Double` is rejected. Duplicate keys: the
    /// last one wins, at the position of the first.
    ///
    /// - Parameter maxDepth: the deepest nesting of arrays and objects accepted
    ///   (`0` accepts only scalars). It also bounds the parser's recursion, so
    ///   keep it in the hundreds at most.
    /// - Throws: `.invalidJSON` or `.tooDeep(limit: maxDepth)`.
    public static func parse(_ buffer: ByteBuffer, maxDepth: Int) throws(ProtocolError) -> JSONValue {
        try buffer.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(ProtocolError) -> JSONValue in
            try raw.withMemoryRebound(to: UInt8.self) { bytes in
                Result { () throws(ProtocolError) -> JSONValue in
                    try JSONParser.parse(bytes, maxDepth: maxDepth)
                }
            }.get()
        }
    }

    /// Parses `string` as one JSON text; see ``parse(_:maxDepth:)``.
    public init(parsing string: String, maxDepth: Int = 32) throws(ProtocolError) {
        var string = string
        self = try string.withUTF8 { bytes in
            Result { () throws(ProtocolError) -> JSONValue in
                try JSONParser.parse(bytes, maxDepth: maxDepth)
            }
        }.get()
    }

    /// Appends the compact JSON text of this value (no insignificant
    /// whitespace) to `buffer`.
    ///
    /// Strings escape `"`, `\` and control characters and leave other UTF-8
    /// as is; doubles are written in their shortest round-tripping form, and
    /// non-finite doubles (which JSON cannot carry) as `null`.
    public func encode(into buffer: inout ByteBuffer) {
        JSONWriter.write(self, into: &buffer)
    }

    /// The compact JSON text of this value.
    public var jsonString: String {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        self.encode(into: &buffer)
        return String(buffer: buffer)
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text, as ``jsonString``.
    public var description: String { self.jsonString }
}

// MARK: - Accessors

extension JSONValue {
    /// The member `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    /// The element at `index` of an array; `nil` out of bounds or for a non-array.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let array) = self, array.indices.contains(index) else { return nil }
        return array[index]
    }

    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    /// The value of an `.int`; a `.double` gives `nil`, even when integral.
    public var intValue: Int? {
        guard case .int(let value) = self else { return nil }
        return value
    }

    /// The value of a `.double`, or of an `.int` converted to `Double`.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }

    public var objectValue: JSONObject? {
        guard case .object(let value) = self else { return nil }
        return value
    }

    public var arrayValue: [JSONValue]? {
        guard case .array(let value) = self else { return nil }
        return value
    }

    /// Whether this is `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self = .int(value) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Keys keep their literal order; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject(minimumCapacity: elements.count)
        for (key, value) in elements {
            object[key] = value
        }
        self = .object(object)
    }
}
