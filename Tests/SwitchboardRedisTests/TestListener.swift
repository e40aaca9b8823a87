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

/// A loopback port held bound but not listening: a connection to it is
/// refused, and no other test can take the port while this lives (a port
/// found free and closed again can be bound by a server started meanwhile).
final class RefusingPort: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        guard let (fd, port) = LoopbackPort.bind() else {
            throw RedisTestServer.NotStarting(description: "cannot bind a loopback port")
        }
        self.fd = fd
        self.port = port
    }

    deinit {
        close(fd)
    }
}
