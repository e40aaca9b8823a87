import NIOCore
import Testing

@testable import SwitchboardProtocol

@Suite("JSONValue parsing")
struct JSONValueParsingTests {
    typealias Support = ProtocolTestSupport

    @Test func scalars() throws {
        #expect(try JSONValue(parsing: "null") == .null)
        #expect(try JSONValue(parsing: "true") == .bool(true))
        #expect(try JSONValue(parsing: "false") == .bool(false))
        #expect(try JSONValue(parsing: "0") == .int(0))
        #expect(try JSONValue(parsing: "-17") == .int(-17))
        #expect(try JSONValue(parsing: "\"abc\"") == .string("abc"))
        #expect(try JSONValue(parsing: "\"\"") == .string(""))
    }

    @Test func containersAndWhitespace() throws {
        let value = try JSONValue(parsing: " \t\r\n{ \"a\" : [ 1 , 2.5 , \"x\" , null , true , false ] ,\n\"b\" : { } , \"c\" : [ ] }\r\n ")
        let expected: JSONValue = ["a": [1, 2.5, "x", nil, true, false], "b": [:], "c": []]
        #expect(value == expected)
    }

    @Test func objectsKeepKeyOrder() throws {
        let value = try JSONValue(parsing: #"{"z":1,"a":2,"m":3}"#)
        #expect(value.objectValue.map { Array($0.keys) } == ["z", "a", "m"])
    }

    @Test func duplicateKeysLastWinsAtFirstPosition() throws {
        let value = try JSONValue(parsing: #"{"a":1,"b":2,"a":3}"#)
        #expect(value == ["a": 3, "b": 2])
        #expect(value.jsonString == #"{"a":3,"b":2}"#)
    }

    @Test func parsesTheReadableBytesOfABuffer() throws {
        var buffer = Support.buffer("xx[1,2]")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try JSONValue.parse(buffer, maxDepth: 4) == [1, 2])
        var bad = Support.buffer("xx[1,]")
        bad.moveReaderIndex(forwardBy: 2)
        #expect(Support.caught { try JSONValue.parse(bad, maxDepth: 4) } == .invalidJSON("unexpected ']' at offset 3, expected a value"))
    }

    // MARK: Strings

    @Test func escapes() throws {
        let value = try JSONValue(parsing: #""\"\\\/\b\f\n\r\t""#)
        #expect(value == .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    @Test func escapesBetweenPlainRuns() throws {
        #expect(try JSONValue(parsing: #""ab\ncd\u0041é\t""#) == .string("ab\ncdAé\t"))
        #expect(try JSONValue(parsing: #""\u0000""#) == .string("\u{0}"))
    }

    @Test func unicodeEscapes() throws {
        #expect(try JSONValue(parsing: #""\u00e9""#) == .string("é"))
        #expect(try JSONValue(parsing: #""\u20AC""#) == .string("€"))
        #expect(try JSONValue(parsing: #""\uD834\uDD1E""#) == .string("𝄞"))
        #expect(try JSONValue(parsing: #""\ud83d\ude00!""#) == .string("😀!"))
        #expect(try JSONValue(parsing: #""\uFFFF""#) == .string("\u{FFFF}"))
    }

    @Test func rawUTF8() throws {
        let value = try JSONValue(parsing: "\"héllo € 𝄞 日本\"")
        #expect(value == .string("héllo € 𝄞 日本"))
        #expect(value.stringValue.map { Array($0.utf8) } == Array("héllo € 𝄞 日本".utf8))
    }

    // MARK: Numbers

    @Test func integers() throws {
        #expect(try JSONValue(parsing: "123") == .int(123))
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(.max))
        #expect(try JSONValue(parsing: "-9223372036854775808") == .int(.min))
    }

    @Test func integersTooBigForIntBecomeDoubles() throws {
        #expect(try JSONValue(parsing: "9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try JSONValue(parsing: "-9223372036854775809") == .double(-9_223_372_036_854_775_809.0))
        #expect(try JSONValue(parsing: "12345678901234567890123") == .double(1.2345678901234568e22))
    }

    @Test func fractionsAndExponents() throws {
        #expect(try JSONValue(parsing: "2.5") == .double(2.5))
        #expect(try JSONValue(parsing: "1e2") == .double(100))
        #expect(try JSONValue(parsing: "1E+2") == .double(100))
        #expect(try JSONValue(parsing: "1.5e-3") == .double(0.0015))
        #expect(try JSONValue(parsing: "-0.5E1") == .double(-5))
        #expect(try JSONValue(parsing: "1.0") == .double(1))
        #expect(try JSONValue(parsing: "1e-400") == .double(0))
    }

    @Test func negativeZero() throws {
        #expect(try JSONValue(parsing: "-0") == .int(0))
        let double = try JSONValue(parsing: "-0.0").doubleValue
        #expect(double == 0 && double?.sign == .minus)
        #expect(try JSONValue(parsing: "-0e0").doubleValue?.sign == .minus)
    }

    // MARK: Depth

    @Test func depthExactlyAtTheLimitIsAccepted() throws {
        #expect(try JSONValue(parsing: "[[[1]]]", maxDepth: 3) == [[[1]]])
        #expect(try JSONValue(parsing: #"{"a":{"b":{"c":[]}}}"#, maxDepth: 4) == ["a": ["b": ["c": []]]])
        #expect(try JSONValue(parsing: "7", maxDepth: 0) == .int(7))
    }

    @Test func depthAboveTheLimitIsRejected() {
        #expect(Support.caught { try JSONValue(parsing: "[[[[1]]]]", maxDepth: 3) } == .tooDeep(limit: 3))
        #expect(Support.caught { try JSONValue(parsing: #"{"a":{"b":{"c":{}}}}"#, maxDepth: 3) } == .tooDeep(limit: 3))
        #expect(Support.caught { try JSONValue(parsing: #"[{"a":[{}]}]"#, maxDepth: 3) } == .tooDeep(limit: 3))
        #expect(Support.caught { try JSONValue(parsing: "[]", maxDepth: 0) } == .tooDeep(limit: 0))
    }

    @Test func hostileNestingStopsAtTheLimit() {
        let hostile = String(repeating: "[", count: 200_000)
        #expect(Support.caught { try JSONValue(parsing: hostile) } == .tooDeep(limit: 32))
        let hostileObjects = String(repeating: #"{"a":"#, count: 100_000)
        #expect(Support.caught { try JSONValue(parsing: hostileObjects) } == .tooDeep(limit: 32))
    }

    // MARK: Rejections

    struct Rejection: Sendable, CustomTestStringConvertible {
        var input: [UInt8]
        var error: String
        var testDescription: String { String(decoding: self.input, as: UTF8.self).debugDescription }

        init(_ input: String, _ error: String) {
            self.input = Array(input.utf8)
            self.error = error
        }

        init(bytes: [UInt8], _ error: String) {
            self.input = bytes
            self.error = error
        }
    }

    static let rejections: [Rejection] = [
        // structure
        Rejection("", "unexpected end of input at offset 0, expected a value"),
        Rejection("   ", "unexpected end of input at offset 3, expected a value"),
        Rejection("[1,2,]", "unexpected ']' at offset 5, expected a value"),
        Rejection(#"{"a":1,}"#, "unexpected '}' at offset 7, expected a string key"),
        Rejection("[,1]", "unexpected ',' at offset 1, expected a value"),
        Rejection("[1 2]", "unexpected '2' at offset 3, expected ',' or ']'"),
        Rejection("[1", "unexpected end of input at offset 2, expected ',' or ']'"),
        Rejection(#"{"a" 1}"#, "unexpected '1' at offset 5, expected ':'"),
        Rejection("{a:1}", "unexpected 'a' at offset 1, expected a string key"),
        Rejection(#"{"a":1"#, "unexpected end of input at offset 6, expected ',' or '}'"),
        Rejection("['a']", "unexpected ''' at offset 1, expected a value"),
        // trailing garbage
        Rejection("[1] x", "unexpected data after the JSON value at offset 4"),
        Rejection("{}{}", "unexpected data after the JSON value at offset 2"),
        Rejection("1 2", "unexpected data after the JSON value at offset 2"),
        Rejection("nullx", "unexpected data after the JSON value at offset 4"),
        // literals
        Rejection("nul", "invalid literal at offset 0"),
        Rejection("[tru]", "invalid literal at offset 1"),
        Rejection("True", "unexpected 'T' at offset 0, expected a value"),
        Rejection("NaN", "unexpected 'N' at offset 0, expected a value"),
        Rejection("Infinity", "unexpected 'I' at offset 0, expected a value"),
        // numbers
        Rejection("01", "leading zero in a number at offset 0"),
        Rejection("[-012]", "leading zero in a number at offset 1"),
        Rejection("00", "leading zero in a number at offset 0"),
        Rejection("1.", "unexpected end of input at offset 2, expected a digit after '.'"),
        Rejection("1.e3", "unexpected 'e' at offset 2, expected a digit after '.'"),
        Rejection(".5", "unexpected '.' at offset 0, expected a value"),
        Rejection("+1", "unexpected '+' at offset 0, expected a value"),
        Rejection("-", "unexpected end of input at offset 1, expected a digit"),
        Rejection("-a", "unexpected 'a' at offset 1, expected a digit"),
        Rejection("1e", "unexpected end of input at offset 2, expected a digit after the exponent"),
        Rejection("1e+", "unexpected end of input at offset 3, expected a digit after the exponent"),
        Rejection("0x10", "unexpected data after the JSON value at offset 1"),
        Rejection("1e400", "number out of range at offset 0"),
        Rejection("[-1e999]", "number out of range at offset 1"),
        // strings
        Rejection("\"abc", "unterminated string at offset 0"),
        Rejection(#"["a\n"#, "unterminated string at offset 1"),
        Rejection(#""\x""#, "invalid escape sequence at offset 1"),
        Rejection(#""\'""#, "invalid escape sequence at offset 1"),
        Rejection(#""ab\"#, "unterminated string at offset 3"),
        Rejection(#""\u12G4""#, "invalid \\u escape at offset 1"),
        Rejection(#""\u12""#, "invalid \\u escape at offset 1"),
        Rejection("\"a\nb\"", "unescaped control character 0x0A in a string at offset 2"),
        Rejection("\"\t\"", "unescaped control character 0x09 in a string at offset 1"),
        Rejection("\"\u{0}\"", "unescaped control character 0x00 in a string at offset 1"),
        Rejection("\"\\n\u{1F}\"", "unescaped control character 0x1F in a string at offset 3"),
        // lone surrogates
        Rejection(#""\uD800""#, "lone surrogate in \\u escape at offset 1"),
        Rejection(#""ab\uDC00""#, "lone surrogate in \\u escape at offset 3"),
        Rejection(#""\uD800\u0041""#, "lone surrogate in \\u escape at offset 1"),
        Rejection(#""\uD800x""#, "lone surrogate in \\u escape at offset 1"),
        Rejection(#""\uDBFF\uDBFF""#, "lone surrogate in \\u escape at offset 1"),
        Rejection(#""\uD800\n""#, "lone surrogate in \\u escape at offset 1"),
        // invalid UTF-8
        Rejection(bytes: [0x22, 0xFF, 0x22], "invalid UTF-8 at offset 1"),
        Rejection(bytes: [0x22, 0x61, 0x80, 0x22], "invalid UTF-8 at offset 2"),
        Rejection(bytes: [0x22, 0xC0, 0x80, 0x22], "invalid UTF-8 at offset 1"),  // overlong NUL
        Rejection(bytes: [0x22, 0xC1, 0xBF, 0x22], "invalid UTF-8 at offset 1"),  // overlong
        Rejection(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22], "invalid UTF-8 at offset 1"),  // overlong
        Rejection(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8 at offset 1"),  // encoded surrogate
        Rejection(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8 at offset 1"),  // above U+10FFFF
        Rejection(bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], "invalid UTF-8 at offset 1"),
        Rejection(bytes: [0x22, 0xE2, 0x82, 0x22], "invalid UTF-8 at offset 1"),  // truncated €
        Rejection(bytes: [0x22, 0xE2, 0x82], "invalid UTF-8 at offset 1"),  // truncated at the end
        Rejection(bytes: [0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], "invalid UTF-8 at offset 3"),  // after an escape
        Rejection(bytes: [0xEF, 0xBB, 0xBF, 0x31], "unexpected 0xEF at offset 0, expected a value"),  // BOM
        Rejection(bytes: [0x5B, 0x31, 0x5D, 0x00], "unexpected data after the JSON value at offset 3"),
    ]

    @Test(arguments: rejections)
    func rejects(_ rejection: Rejection) {
        let error = Support.caught { try JSONValue.parse(Support.buffer(rejection.input), maxDepth: 32) }
        #expect(error == .invalidJSON(rejection.error))
    }
}
