#if canImport(Glibc)
import Glibc
#endif
import Switchboard
import SwitchboardTesting

/// A loopback listening socket that never accepts (nor answers).
final class TestListener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        guard let (fd, port) = LoopbackPort.bind(listenBacklog: 16) else {
            throw RedisTestServer.NotStarting(description: "cannot listen")
        }
        self.fd = fd
        self.port = port
    }

    deinit {
        close(fd)
    }
}
