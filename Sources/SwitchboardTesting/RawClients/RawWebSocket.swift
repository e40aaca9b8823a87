import Switchboard

/// A minimal WebSocket client on ``RawTCPConnection``: upgrade, masked text
/// frames out, frames in exactly as the server wrote them.
package final class RawWebSocket: Sendable {
    /// A frame from the server.
    package enum Frame: Equatable, Sendable {
        case text(String)
        case binary([UInt8])
        case close(code: UInt16?)
        case ping
        case pong
    }

    package let connection: RawTCPConnection

    private init(connection: RawTCPConnection) {
        self.connection = connection
    }

    /// Opens `path` (with its query) on `127.0.0.1:port`; throws unless the
    /// server answers 101.
    package static func connect(port: Int, path: String, headers: [String] = []) async throws -> RawWebSocket {
        try await connectReturningHead(port: port, path: path, headers: headers).socket
    }

    /// ``connect(port:path:headers:)``, also returning the 101 response's head.
    package static func connectReturningHead(port: Int, path: String, headers: [String] = []) async throws -> (socket: RawWebSocket, head: String) {
        let connection = try await RawTCPConnection.connect(port: port)
        try await connection.write(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        )
        let head = try await connection.read(through: "\r\n\r\n")
        guard head.hasPrefix("HTTP/1.1 101") else {
            throw RawTCPError("upgrade of \(path) refused: \(head.split(separator: "\r\n").first ?? "")")
        }
        return (RawWebSocket(connection: connection), head)
    }

    /// Sends one masked text frame.
    package func send(_ text: String) async throws {
        try await connection.write(Self.frame(opcode: 0x1, payload: Array(text.utf8)))
    }

    /// Sends frames made with ``frame(opcode:payload:masked:reservedBits:fin:)``, in one write.
    package func send(frames: [[UInt8]]) async throws {
        try await connection.write(frames.flatMap { $0 })
    }

    /// The bytes of one client frame: masked unless `masked` is false, with
    /// the RSV bits of `reservedBits` (0 to 7) and any opcode, valid or not.
    package static func frame(opcode: UInt8, payload: [UInt8], masked: Bool = true, reservedBits: UInt8 = 0, fin: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | (reservedBits & 0x7) << 4 | (opcode & 0x0F)]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126:
            frame.append(maskBit | UInt8(payload.count))
        case ..<65_536:
            frame.append(maskBit | 126)
            frame.append(contentsOf: [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)])
        default:
            frame.append(maskBit | 127)
            frame.append(contentsOf: (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) })
        }
        guard masked else { return frame + payload }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame.append(contentsOf: mask)
        frame.append(contentsOf: payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        return frame
    }

    /// The next frame (unfragmented frames only, as the server writes them).
    package func receive() async throws -> Frame {
        let (first, payload) = try await receiveRaw()
        switch first & 0x0F {
        case 0x1: return .text(String(decoding: payload, as: UTF8.self))
        case 0x2: return .binary(payload)
        case 0x8: return .close(code: payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil)
        case 0x9: return .ping
        case 0xA: return .pong
        default: throw RawTCPError("unexpected opcode \(first & 0x0F)")
        }
    }

    /// The next frame as it came: its first byte (FIN, RSV bits, opcode) and its payload.
    package func receiveRaw() async throws -> (firstByte: UInt8, payload: [UInt8]) {
        let head = try await connection.read(count: 2)
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            let bytes = try await connection.read(count: 2)
            length = Int(bytes[0]) << 8 | Int(bytes[1])
        } else if length == 127 {
            let bytes = try await connection.read(count: 8)
            length = bytes.reduce(0) { $0 << 8 | Int($1) }
        }
        let payload = length > 0 ? try await connection.read(count: length) : []
        return (head[0], payload)
    }

    /// The next text frame, skipping pings and pongs; throws on anything else.
    package func receiveText() async throws -> String {
        while true {
            switch try await receive() {
            case .text(let text): return text
            case .ping, .pong: continue
            case let other: throw RawTCPError("expected a text frame, got \(other)")
            }
        }
    }

    /// The next `count` text frames, in arrival order.
    package func receiveTexts(_ count: Int) async throws -> [String] {
        var texts: [String] = []
        for _ in 0..<count {
            texts.append(try await receiveText())
        }
        return texts
    }

    package func close() {
        connection.close()
    }
}
