import NIOCore
import Testing
@testable import Switchboard

@Suite("Transport helpers")
struct TransportHelpersTests {
    @Test func queryStringDecodesPercentAndPlus() {
        let params = QueryString.parse("vsn=2.0.0&user_id=42&name=a+b%20c&empty=&flag&bad=%zz&=x")
        #expect(params == ["vsn": "2.0.0", "user_id": "42", "name": "a b c", "empty": "", "flag": ""])
    }

    @Test func oneParameterIsReadAsTheWholeParseReadsIt() {
        let query: Substring = "vsn=2.0.0&token=first&t%6Fken=a+b%2Fc&other=x&token=%zz&&flag"
        #expect(QueryString.value(named: "token", in: query) == "a b/c", "the last that decodes, its name decoded too")
        #expect(QueryString.value(named: "token", in: query) == QueryString.parse(query)["token"])
        #expect(QueryString.value(named: "flag", in: query) == "")
        #expect(QueryString.value(named: "missing", in: query) == nil)
        #expect(QueryString.value(named: "token", in: "") == nil)
    }

    @Test func queryStringIsBounded() {
        let query = (0..<200).map { "k\($0)=v" }.joined(separator: "&")
        #expect(QueryString.parse(query[...], maxParameters: 64).count == 64)
    }

    @Test func splitsURI() {
        let (path, query) = QueryString.split(uri: "/socket/websocket?vsn=2.0.0")
        #expect(path == "/socket/websocket")
        #expect(query == "vsn=2.0.0")
        #expect(QueryString.split(uri: "/healthz").query == "")
    }

    @Test(arguments: [
        ("base64url.bearer.phx.c2VjcmV0LXRva2Vu", "secret-token"),
        // "??>" encodes to "Pz8+" (standard) / "Pz8-" (URL-safe).
        ("base64url.bearer.phx.Pz8-", "??>"),
        ("base64url.bearer.phx.Pz8+", "??>"),
        // "ab" → "YWI=" padded, "YWI" stripped.
        ("base64url.bearer.phx.YWI=", "ab"),
        ("base64url.bearer.phx.YWI", "ab"),
    ])
    func authTokenFromSubprotocol(offered: String, token: String) {
        let protocols = AuthTokenSubprotocol.offered(in: ["phoenix, \(offered)"])
        #expect(protocols.first == "phoenix")
        #expect(AuthTokenSubprotocol.token(in: protocols) == token)
    }

    @Test func noOrBrokenAuthToken() {
        #expect(AuthTokenSubprotocol.token(in: ["phoenix"]) == nil)
        #expect(AuthTokenSubprotocol.token(in: ["base64url.bearer.phx.!!!"]) == nil)
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals("secret", "secret"))
        #expect(!ConstantTime.equals("secret", "secreT"))
        #expect(!ConstantTime.equals("secret", "secret2"))
        #expect(!ConstantTime.equals("", "x"))
        #expect(!ConstantTime.equals(String(repeating: "a", count: 256), ""))
        #expect(ConstantTime.equals("", ""))
    }

    @Test(arguments: [0, 1, 125, 126, 65535, 65536, 70000])
    func framingHeaders(length: Int) throws {
        let frame = WebSocketFraming.frame(allocator: ByteBufferAllocator()) { buffer in
            buffer.writeRepeatingByte(UInt8(ascii: "x"), count: length)
            return .text
        }
        let bytes = Array(frame.readableBytesView)
        #expect(bytes[0] == 0x81)
        switch length {
        case ..<126:
            #expect(bytes[1] == UInt8(length))
            #expect(bytes.count == 2 + length)
        case ...65535:
            #expect(bytes[1] == 126)
            #expect(Int(bytes[2]) << 8 | Int(bytes[3]) == length)
            #expect(bytes.count == 4 + length)
        default:
            #expect(bytes[1] == 127)
            let encoded = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
            #expect(encoded == length)
            #expect(bytes.count == 10 + length)
        }
    }

    @Test func binaryFramingOpcode() {
        let frame = WebSocketFraming.frame(allocator: ByteBufferAllocator()) { buffer in
            buffer.writeBytes([1, 2, 3])
            return .binary
        }
        #expect(Array(frame.readableBytesView) == [0x82, 3, 1, 2, 3])
    }
}
