#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for the bench and the tests, found by binding a TCP socket
/// to 127.0.0.1 port 0 and asking the kernel which port it chose.
package enum LoopbackPort {
    /// A socket bound to a free loopback port, listening with `backlog` when
    /// one is given; `nil` if none could be bound. The caller closes `fd`.
    package static func bind(listenBacklog backlog: Int32? = nil) -> (fd: Int32, port: Int)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                Glibc.bind(fd, raw, length) == 0 && (backlog.map { listen(fd, $0) == 0 } ?? true)
                    && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            return nil
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A loopback port nothing listens on right now; `nil` if none could be bound.
    package static func free() -> Int? {
        guard let (fd, port) = bind() else { return nil }
        close(fd)
        return port
    }
}
