#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback TCP connection with a 10 s timeout, for talking to
/// redis-server directly in tests.
struct TestSocket: ~Copyable {
    let fd: Int32

    init(port: Int) throws {
        // A local until connected: a throwing init must not leave `fd` set,
        // or deinit would close it a second time (someone else's by then).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                connect(fd, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw RedisTestServer.NotStarting(description: "cannot connect to 127.0.0.1:\(port)")
        }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw RedisTestServer.NotStarting(description: "send failed") }
            sent += count
        }
    }

    /// Reads until `count` lines ending in CRLF have arrived.
    func readLines(count: Int) throws -> [String] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count(where: { $0 == 10 }) < count {
            let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { throw RedisTestServer.NotStarting(description: "no reply") }
            received += buffer[..<read]
        }
        return String(decoding: received, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
    }

    /// Reads until the peer closes the connection.
    func readToEnd() throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard read >= 0 else { throw RedisTestServer.NotStarting(description: "no reply") }
            if read == 0 { break }
            received += buffer[..<read]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
