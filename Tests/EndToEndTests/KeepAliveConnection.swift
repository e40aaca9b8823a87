import NIOCore
import NIOPosix

/// One raw TCP connection kept open across requests: HTTP responses are read
/// one at a time (by `Content-Length`), then, once upgraded, WebSocket frames.
/// For checks of what happens on the second request of a keep-alive connection.
struct KeepAliveConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var received = ByteBuffer()

    struct Closed: Error {}

    /// A WebSocket upgrade request for `path` (with its query) and extra header lines.
    static func upgradeRequest(port: Int, path: String, headers: [String] = []) -> String {
        let lines = [
            "GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        ] + headers
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// A keep-alive request with an optional body.
    static func request(port: Int, method: String = "GET", path: String, headers: [String] = [], body: String? = nil) -> String {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: keep-alive"] + headers
        if let body { lines.append("Content-Length: \(body.utf8.count)") }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
    }

    /// Connects to `127.0.0.1:port`, runs `body`, and closes.
    static func with<T>(port: Int, _ body: (inout KeepAliveConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = KeepAliveConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// The next HTTP response: its head, then `Content-Length` bytes of body.
    mutating func readResponse() async throws -> RawHTTP.Response {
        var headEnd: Int?
        while headEnd == nil {
            headEnd = received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
            if headEnd == nil { try await fill() }
        }
        let headLength = headEnd! - received.readerIndex
        let head = received.readString(length: headLength)!
        let lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? -1
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = RawHTTP.Response(status: status, headers: headers, body: "")
        let length = Int(response.header("content-length") ?? "0") ?? 0
        while received.readableBytes < length { try await fill() }
        response.body = received.readString(length: length)!
        return response
    }

    /// Sends one masked text frame.
    func sendText(_ text: String) async throws {
        let payload = Array(text.utf8)
        precondition(payload.count < 126, "short frames only")
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        let frame = [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try await outbound.write(ByteBuffer(bytes: frame))
    }

    /// The next server frame (unmasked, unfragmented): its opcode and payload as text.
    mutating func readFrame() async throws -> (opcode: UInt8, text: String) {
        while received.readableBytes < 2 { try await fill() }
        let first = received.getInteger(at: received.readerIndex, as: UInt8.self)!
        let second = received.getInteger(at: received.readerIndex + 1, as: UInt8.self)!
        var headerLength = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            while received.readableBytes < 4 { try await fill() }
            length = Int(received.getInteger(at: received.readerIndex + 2, as: UInt16.self)!)
            headerLength = 4
        } else if length == 127 {
            while received.readableBytes < 10 { try await fill() }
            length = Int(received.getInteger(at: received.readerIndex + 2, as: UInt64.self)!)
            headerLength = 10
        }
        while received.readableBytes < headerLength + length { try await fill() }
        received.moveReaderIndex(forwardBy: headerLength)
        return (first & 0x0F, received.readString(length: length)!)
    }

    /// Everything the server sends until it closes the connection.
    mutating func readToClose() async throws -> String {
        while (try? await fill()) != nil {}
        return received.readString(length: received.readableBytes) ?? ""
    }

    private mutating func fill() async throws {
        guard var chunk = try await inbound.next() else { throw Closed() }
        received.writeBuffer(&chunk)
    }
}
