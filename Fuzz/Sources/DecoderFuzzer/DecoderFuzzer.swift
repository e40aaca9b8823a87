import NIOCore
import SwitchboardProtocol

/// libFuzzer's entry point: one input through every decoder the server runs
/// on client bytes (V1 text, V2 text, V2 binary, each with the server's
/// default limits) and through `JSONValue.parse`.
///
/// A crash, a sanitizer report or a broken invariant (checked with
/// `precondition`, so libFuzzer keeps the input) is a finding: a decoded
/// message within the limits, that encodes and decodes again unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    DecoderFuzzer.check(buffer, with: V1Serializer(), kind: .text)
    DecoderFuzzer.check(buffer, with: V1Serializer(), kind: .binary)
    DecoderFuzzer.check(buffer, with: V2Serializer(), kind: .text)
    DecoderFuzzer.check(buffer, with: V2Serializer(), kind: .binary)
    DecoderFuzzer.checkJSON(buffer)
    return 0
}

/// The invariants checked on every input.
enum DecoderFuzzer {
    static let limits = DecodingLimits.default

    static func check(_ buffer: ByteBuffer, with serializer: some Serializer, kind: FrameKind) {
        guard let message = try? serializer.decodeClientFrame(buffer, kind: kind, limits: self.limits) else {
            return
        }
        precondition(!message.topic.isEmpty && message.topic.utf8.count <= self.limits.maxTopicLength, "topic out of limits")
        precondition(!message.event.isEmpty && message.event.utf8.count <= self.limits.maxEventLength, "event out of limits")
        switch message.payload {
        case .json(let payload):
            precondition(kind == .text, "a JSON payload from a binary frame")
            precondition(self.depth(of: payload) <= self.limits.maxJSONDepth, "payload deeper than the limit")
        case .binary:
            precondition(kind == .binary, "a binary payload from a text frame")
        }
        var encoded = ByteBuffer()
        guard let encodedKind = try? serializer.encodeClientMessage(message, into: &encoded) else {
            preconditionFailure("a decoded message does not encode")
        }
        precondition(encodedKind == kind, "re-encoded as another frame kind")
        let again = try? serializer.decodeClientFrame(encoded, kind: encodedKind, limits: self.limits)
        precondition(again == message, "the round trip changed the message")
    }

    static func checkJSON(_ buffer: ByteBuffer) {
        guard let value = try? JSONValue.parse(buffer, maxDepth: self.limits.maxJSONDepth) else {
            return
        }
        precondition(self.depth(of: value) <= self.limits.maxJSONDepth, "JSON deeper than the limit")
        var encoded = ByteBuffer()
        value.encode(into: &encoded)
        precondition((try? JSONValue.parse(encoded, maxDepth: self.limits.maxJSONDepth)) == value, "the JSON round trip changed the value")
    }

    /// How many arrays and objects enclose the innermost value.
    static func depth(of value: JSONValue) -> Int {
        switch value {
        case .array(let elements): 1 + (elements.map { self.depth(of: $0) }.max() ?? 0)
        case .object(let members): 1 + (members.values.map { self.depth(of: $0) }.max() ?? 0)
        default: 0
        }
    }
}
