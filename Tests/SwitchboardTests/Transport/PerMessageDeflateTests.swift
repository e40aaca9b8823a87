import CompressNIO
import NIOCore
@testable import Switchboard
import Testing

/// permessage-deflate's negotiation (RFC 7692 §5–7) and the compressed framing.
@Suite("permessage-deflate")
struct PerMessageDeflateTests {
    @Test("an acceptable offer is answered; the server never keeps context", arguments: [
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=9", "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"),
        ("permessage-deflate; server_max_window_bits=\"12\"", "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"),
        // The first acceptable offer wins.
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate; server_no_context_takeover"),
        ("x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"),
    ])
    func acceptableOffers(offer: String, answer: String) {
        #expect(PerMessageDeflate.negotiate(offers: [offer])?.responseHeader == answer)
    }

    @Test("an offer the server cannot honour is declined", arguments: [
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        "x-webkit-deflate-frame",
        "",
    ])
    func unacceptableOffers(offer: String) {
        #expect(PerMessageDeflate.negotiate(offers: [offer]) == nil)
    }

    @Test func aLongMessageIsCompressedWithRSV1AndAShortOneIsNot() throws {
        let framing = MessageFraming.webSocketDeflate(windowBits: 15)
        let long = ByteBuffer(string: "[null,null,\"room:1\",\"shout\",{\"text\":\"" + String(repeating: "hello ", count: 100) + "\"}]")
        let frame = framing.wrap(long, .text, ByteBufferAllocator())
        #expect(frame.getInteger(at: frame.readerIndex, as: UInt8.self) == 0xC1)
        #expect(frame.readableBytes < long.readableBytes / 4)
        #expect(framing.unwrap(frame) == long)
        // No context: the same message compresses to the same bytes every time.
        #expect(framing.wrap(long, .text, ByteBufferAllocator()) == frame)

        let short = ByteBuffer(string: "[null,\"1\",\"phoenix\",\"phx_reply\",{}]")
        let plain = framing.wrap(short, .text, ByteBufferAllocator())
        #expect(plain.getInteger(at: plain.readerIndex, as: UInt8.self) == 0x81)
        #expect(framing.unwrap(plain) == short)
    }
}
