import NIOCore
import Testing

@testable import SwitchboardProtocol

/// Helpers shared by the protocol tests.
enum ProtocolTestSupport {
    static func buffer(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    /// The readable bytes, for byte-exact comparisons.
    static func bytes(_ buffer: ByteBuffer) -> [UInt8] {
        Array(buffer.readableBytesView)
    }

    /// The `ProtocolError` that `body` throws, or `nil` when it returns.
    /// (Untyped `throws` because closures don't infer a typed `throws` from context.)
    static func caught<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> ProtocolError? {
        do {
            _ = try body()
            return nil
        } catch let error as ProtocolError {
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// A byte array made of ASCII text and raw bytes, for hand-built binary frames.
    static func frame(_ parts: FramePart...) -> [UInt8] {
        parts.flatMap { part -> [UInt8] in
            switch part {
            case .bytes(let bytes): return bytes
            case .text(let text): return Array(text.utf8)
            }
        }
    }

    enum FramePart: ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
        case bytes([UInt8])
        case text(String)
        init(stringLiteral value: String) { self = .text(value) }
        init(arrayLiteral elements: UInt8...) { self = .bytes(elements) }
    }

    static func encodeServer(_ serializer: some Serializer, _ frame: OutboundFrame) throws(ProtocolError) -> (bytes: [UInt8], kind: FrameKind) {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        let kind = try serializer.encodeServerFrame(frame, into: &buffer)
        return (self.bytes(buffer), kind)
    }

    static func encodeClient(_ serializer: some Serializer, _ message: Message) throws(ProtocolError) -> (bytes: [UInt8], kind: FrameKind) {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        let kind = try serializer.encodeClientMessage(message, into: &buffer)
        return (self.bytes(buffer), kind)
    }
}
