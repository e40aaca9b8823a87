import NIOCore
import Testing

@testable import SwitchboardProtocol

@Suite("JSONValue encoding")
struct JSONValueEncodingTests {
    typealias Support = ProtocolTestSupport

    private func encoded(_ value: JSONValue) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        value.encode(into: &buffer)
        return Support.bytes(buffer)
    }

    @Test func compactOutput() {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, true, false], "b": [:], "c": [], "d": ["e": -3]]
        #expect(self.encoded(value) == Array(#"{"a":[1,2.5,"x",null,true,false],"b":{},"c":[],"d":{"e":-3}}"#.utf8))
    }

    @Test func appendsToWhatIsInTheBuffer() {
        var buffer = Support.buffer("prefix:")
        JSONValue.array([1, "a"]).encode(into: &buffer)
        #expect(Support.bytes(buffer) == Array(#"prefix:[1,"a"]"#.utf8))
    }

    @Test func escapes() {
        let value = JSONValue.string("\"\\\n\r\t\u{08}\u{0C}\u{0}\u{1F}\u{7F}/é€")
        #expect(self.encoded(value) == Array(#""\"\\\n\r\t\b\f\u0000\u001f"#.utf8) + [0x7F] + Array(#"/é€""#.utf8))
    }

    @Test func escapesInKeys() {
        let value: JSONValue = ["a\"b\n": 1]
        #expect(self.encoded(value) == Array(#"{"a\"b\n":1}"#.utf8))
    }

    @Test func unicodeIsWrittenAsIs() {
        let value = JSONValue.string("héllo 𝄞 日本 😀")
        #expect(self.encoded(value) == Array("\"héllo 𝄞 日本 😀\"".utf8))
    }

    @Test func integers() {
        #expect(self.encoded(0) == Array("0".utf8))
        #expect(self.encoded(7) == Array("7".utf8))
        #expect(self.encoded(42) == Array("42".utf8))
        #expect(self.encoded(-7) == Array("-7".utf8))
        #expect(self.encoded(.int(.max)) == Array("9223372036854775807".utf8))
        #expect(self.encoded(.int(.min)) == Array("-9223372036854775808".utf8))
    }

    @Test func doubles() {
        #expect(self.encoded(1.0) == Array("1.0".utf8))
        #expect(self.encoded(0.1) == Array("0.1".utf8))
        #expect(self.encoded(-2.5) == Array("-2.5".utf8))
        #expect(self.encoded(.double(-0.0)) == Array("-0.0".utf8))
        #expect(self.encoded(1e16) == Array("1e+16".utf8))
        #expect(self.encoded(1e-7) == Array("1e-07".utf8))
        #expect(self.encoded(.double(.leastNonzeroMagnitude)) == Array("5e-324".utf8))
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(self.encoded(.double(.infinity)) == Array("null".utf8))
        #expect(self.encoded(.double(-.infinity)) == Array("null".utf8))
        #expect(self.encoded(.double(.nan)) == Array("null".utf8))
    }

    @Test(arguments: [0.1, 1.0 / 3.0, 1e300, -1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 123456.789, 9007199254740993.0, -0.0, 1e22])
    func doublesRoundTrip(_ double: Double) throws {
        let text = JSONValue.double(double).jsonString
        let back = try JSONValue(parsing: text)
        guard case .double(let parsed) = back else {
            Issue.record("\(text) parsed as \(back)")
            return
        }
        #expect(parsed.bitPattern == double.bitPattern, "\(text)")
    }

    static let roundTrips: [String] = [
        "null", "true", "false", "0", "-1", "\"\"", "[]", "{}",
        #"{"a":[1,2.5,"x",null,true,false],"b":{}}"#,
        #"{"z":1,"a":2}"#,
        #"[[[[]]],{"":{"":[]}}]"#,
        #""\"\\\n\r\t\b\f\u0000\u001f""#,
        #""héllo € 𝄞""#,
        #"[9223372036854775807,-9223372036854775808,1.5,-0.0,1e+100,1e-07]"#,
        #"{"topic":"room:lobby","payload":{"body":"hi","n":[1,2,3]}}"#,
    ]

    @Test(arguments: roundTrips)
    func roundTrip(_ text: String) throws {
        let value = try JSONValue(parsing: text)
        #expect(self.encoded(value) == Array(text.utf8))
        #expect(value.jsonString == text)
        #expect(try JSONValue(parsing: value.jsonString) == value)
    }

    @Test func slashAndEscapedNonASCIIAreNormalised() throws {
        #expect(try JSONValue(parsing: #""a\/b\u00e9\uD834\uDD1E""#).jsonString == "\"a/bé𝄞\"")
    }

    // MARK: Conveniences

    @Test func literals() {
        let value: JSONValue = ["s": "x", "i": 1, "d": 1.5, "b": true, "n": nil, "a": [1, "two"], "o": ["k": "v"]]
        #expect(value == .object(["s": .string("x"), "i": .int(1), "d": .double(1.5), "b": .bool(true), "n": .null, "a": .array([.int(1), .string("two")]), "o": .object(["k": .string("v")])]))
        #expect(value.jsonString == #"{"s":"x","i":1,"d":1.5,"b":true,"n":null,"a":[1,"two"],"o":{"k":"v"}}"#)
    }

    @Test func dictionaryLiteralWithARepeatedKeyKeepsTheLast() {
        let value: JSONValue = ["a": 1, "b": 2, "a": 3]
        #expect(value.jsonString == #"{"a":3,"b":2}"#)
    }

    @Test func accessors() {
        let value: JSONValue = ["s": "x", "i": 1, "d": 1.5, "b": false, "n": nil, "a": [10, 20], "o": ["k": "v"]]
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.intValue == 1)
        #expect(value["i"]?.doubleValue == 1.0)
        #expect(value["d"]?.doubleValue == 1.5)
        #expect(value["d"]?.intValue == nil)
        #expect(value["b"]?.boolValue == false)
        #expect(value["n"] == .null)
        #expect(value["n"]?.isNull == true)
        #expect(value["a"]?[1] == 20)
        #expect(value["a"]?[2] == nil)
        #expect(value["a"]?[-1] == nil)
        #expect(value["a"]?.arrayValue == [10, 20])
        #expect(value["o"]?.objectValue == ["k": "v"])
        #expect(value["o"]?["k"]?.stringValue == "v")
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(value["s"]?["k"] == nil)
        #expect(value["s"]?.intValue == nil)
        #expect(value.stringValue == nil)
    }

    @Test func descriptionIsTheJSONText() {
        let value: JSONValue = ["a": [1, "b\n"]]
        #expect(value.description == #"{"a":[1,"b\n"]}"#)
        #expect("\(value)" == #"{"a":[1,"b\n"]}"#)
    }
}
