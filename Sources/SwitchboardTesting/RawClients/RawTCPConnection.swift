import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking TCP connection to a loopback port, with a 5 s read timeout, for
/// tests that must see the exact bytes a server writes (HTTP responses,
/// WebSocket frames) without any client library in between.
///
/// Use it from one task at a time; every blocking call runs on a thread of
/// its own (``offload(_:)``) so the test never blocks Swift's cooperative pool,
/// which an in-process server needs for its channel handlers.
package final class RawTCPConnection: @unchecked Sendable {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        Glibc.close(descriptor)
    }

    /// Connects to `127.0.0.1:port`.
    package static func connect(port: Int) async throws -> RawTCPConnection {
        try await offload {
            #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard descriptor >= 0 else { throw RawTCPError("socket() failed: errno \(errno)") }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else {
                let code = errno
                Glibc.close(descriptor)
                throw RawTCPError("cannot connect to 127.0.0.1:\(port): errno \(code)")
            }
            return RawTCPConnection(descriptor: descriptor)
        }
    }

    /// Writes all of `bytes`.
    package func write(_ bytes: [UInt8]) async throws {
        try await offload {
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { raw in
                    Glibc.send(self.descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                }
                guard written > 0 else { throw RawTCPError("write failed: errno \(errno)") }
                offset += written
            }
        }
    }

    package func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    /// Reads exactly `count` bytes.
    package func read(count: Int) async throws -> [UInt8] {
        try await offload {
            while self.buffer.count < count {
                try self.fill()
            }
            let bytes = Array(self.buffer.prefix(count))
            self.buffer.removeFirst(count)
            return bytes
        }
    }

    /// Reads up to and including the first occurrence of `delimiter`.
    package func read(through delimiter: String) async throws -> String {
        let delimiter = Array(delimiter.utf8)
        return try await offload {
            while true {
                if let end = Self.firstRange(of: delimiter, in: self.buffer) {
                    let bytes = Array(self.buffer[..<end])
                    self.buffer.removeFirst(end)
                    return String(decoding: bytes, as: UTF8.self)
                }
                try self.fill()
            }
        }
    }

    /// Reads until the server closes the connection.
    package func readToEnd() async throws -> String {
        try await offload {
            while (try? self.fill()) != nil {}
            let bytes = self.buffer
            self.buffer.removeAll()
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Ends the connection both ways (the server sees it closed). The
    /// descriptor itself is released with this object: a read blocked in
    /// another task ends at once, and never goes on with a new connection
    /// that reused the number.
    package func close() {
        guard !closed else { return }
        closed = true
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Appends what one `recv` returns; throws at end of stream or on timeout.
    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count == 0 { throw RawTCPError("connection closed by the server") }
        if count < 0 { throw RawTCPError(errno == EAGAIN ? "read timed out after 5 s" : "read failed: errno \(errno)") }
        buffer.append(contentsOf: chunk[..<count])
    }

    /// The end index of the first `needle` in `haystack`.
    private static func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start + needle.count
        }
        return nil
    }
}

/// A failure of a raw test connection.
package struct RawTCPError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Runs blocking `body` on a thread of its own and returns its result.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
