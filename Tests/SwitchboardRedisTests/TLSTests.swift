import Foundation
import NIOCore
import NIOPosix
import Switchboard
@testable import SwitchboardRedis
import Testing

/// `rediss://` against a TLS-only redis-server with a CA made for the test.
@Suite("Redis over TLS", .serialized)
struct TLSTests {
    @Test("a TLS-only Redis carries a shout from one node to the other")
    func shoutCrossesNodesOverTLS() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        let url = "rediss://localhost:\(redis.port)"
        try await TestCluster.with(nodes: 2, redis: redis, urls: [url, url], configure: { $0.tls.caFile = authority.caFile }) { cluster in
            #expect(cluster.adapters[0].status.detail?.contains("connected to rediss://localhost:\(redis.port)") == true)
            let (_, roomA) = try await cluster.joined(0, "room:tls")
            let (_, roomB) = try await cluster.joined(1, "room:tls")
            _ = try await roomA.push("shout", ["text": "over tls"])
            #expect(try await roomB.nextMessage(event: "shout").payload == .json(["text": "over tls"]))
            _ = try await roomB.push("shout", ["text": "and back"])
            #expect(try await roomA.nextMessage(event: "shout", timeout: .seconds(5)).payload == .json(["text": "over tls"]))
            #expect(try await roomA.nextMessage(event: "shout").payload == .json(["text": "and back"]))
            #expect(cluster.adapters[1].statistics.received >= 1)
        }
    }

    @Test("a server certificate from another CA is refused, naming the CA file")
    func otherAuthorityIsRefused() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let stranger = try await TestCertificates.makeAuthority(name: "stranger", in: authority.directory)
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        defer { redis.stop() }
        let error = try await Self.startError(url: "rediss://localhost:\(redis.port)") { $0.caFile = stranger.caFile }
        #expect(error.hasPrefix("TLS connection to Redis at localhost:\(redis.port) (rediss://localhost:\(redis.port)/0) failed"), "\(error)")
        #expect(error.contains("the server's certificate is not signed by the CA in \(stranger.caFile) (certificate verify failed"), "\(error)")
    }

    @Test("the system trust store does not know a private CA")
    func systemTrustStoreRefusesPrivateCA() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        defer { redis.stop() }
        let error = try await Self.startError(url: "rediss://localhost:\(redis.port)") { _ in }
        #expect(error.contains("the server's certificate is not signed by the system's trusted CAs"), "\(error)")
    }

    @Test("an expired server certificate is refused")
    func expiredCertificateIsRefused() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("expired", expired: true))
        defer { redis.stop() }
        let error = try await Self.startError(url: "rediss://localhost:\(redis.port)") { $0.caFile = authority.caFile }
        #expect(error.contains("the server's certificate expired on 20"), "\(error)")
        #expect(error.contains("certificate verify failed, trusting the CA in \(authority.caFile)"), "\(error)")
    }

    @Test("a certificate for another host name is refused, unless tls.server_name names it")
    func wrongHostNameIsRefused() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server", names: ["redis.internal"]))
        defer { redis.stop() }
        for url in ["rediss://localhost:\(redis.port)", "rediss://127.0.0.1:\(redis.port)"] {
            let error = try await Self.startError(url: url) { $0.caFile = authority.caFile }
            #expect(error.contains("hostname verification failed"), "\(error)")
            #expect(error.contains("tls.server_name"), "\(error)")
        }
        let renamed = try await Self.startError(url: "rediss://127.0.0.1:\(redis.port)") {
            $0.caFile = authority.caFile
            $0.serverName = "other.internal"
        }
        #expect(renamed.contains("not valid for other.internal"), "\(renamed)")

        var configuration = RedisAdapterConfiguration(url: try RedisURL("rediss://127.0.0.1:\(redis.port)"), nodeName: "a")
        configuration.tls.caFile = authority.caFile
        configuration.tls.serverName = "redis.internal"
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        #expect(adapter.status.state == "connected")
        await adapter.shutdown()
    }

    @Test("mutual TLS: refused without a client certificate, connected with one")
    func mutualTLS() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"), authClients: true)
        let url = "rediss://localhost:\(redis.port)"
        let error = try await Self.startError(url: url) { $0.caFile = authority.caFile }
        #expect(error.contains("the server refused the TLS connection with no client certificate: it requires a client certificate it trusts"), "\(error)")
        #expect(error.hasSuffix("set tls.certificate_file and tls.key_file (TLSV1_ALERT_CERTIFICATE_REQUIRED)"), "\(error)")

        let stranger = try await TestCertificates.makeAuthority(name: "stranger", in: authority.directory)
        let strangeClient = try await stranger.issue("strange-client", names: ["node-a"])
        let untrusted = try await Self.startError(url: url) {
            $0.caFile = authority.caFile
            $0.certificateFile = strangeClient.certificateFile
            $0.keyFile = strangeClient.keyFile
        }
        #expect(untrusted.contains("the server refused the TLS connection with the client certificate \(strangeClient.certificateFile)"), "\(untrusted)")

        let client = try await authority.issue("client", names: ["node-a"])
        try await TestCluster.with(nodes: 2, redis: redis, urls: [url, url], configure: { configuration in
            configuration.tls.caFile = authority.caFile
            configuration.tls.certificateFile = client.certificateFile
            configuration.tls.keyFile = client.keyFile
        }) { cluster in
            let (_, roomA) = try await cluster.joined(0, "room:mtls")
            let (_, roomB) = try await cluster.joined(1, "room:mtls")
            _ = try await roomB.push("shout", ["text": "mutual"])
            #expect(try await roomA.nextMessage(event: "shout").payload == .json(["text": "mutual"]))
        }
    }

    @Test("a client certificate without its key, or with another's, an expired one, or a missing file, is a configuration error")
    func badClientFiles() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        defer { redis.stop() }
        let url = "rediss://localhost:\(redis.port)"
        let halfPair = try await Self.startError(url: url) {
            $0.caFile = authority.caFile
            $0.certificateFile = authority.caFile
        }
        #expect(halfPair.contains("tls.certificate_file is set without tls.key_file"), "\(halfPair)")
        let client = try await authority.issue("client")
        let other = try await authority.issue("other")
        let mismatch = try await Self.startError(url: url) {
            $0.caFile = authority.caFile
            $0.certificateFile = client.certificateFile
            $0.keyFile = other.keyFile
        }
        #expect(mismatch.contains("the client key (tls.key_file) does not belong to the client certificate"), "\(mismatch)")
        let expired = try await authority.issue("expired-client", expired: true)
        let expiredClient = try await Self.startError(url: url) {
            $0.caFile = authority.caFile
            $0.certificateFile = expired.certificateFile
            $0.keyFile = expired.keyFile
        }
        #expect(expiredClient.contains("\(expired.certificateFile): the certificate expired on 20"), "\(expiredClient)")
        let missing = try await Self.startError(url: url) { $0.caFile = authority.directory + "/nothing.pem" }
        #expect(missing.contains("CA file (tls.ca_file) \(authority.directory)/nothing.pem: no such file or directory"), "\(missing)")
        let notPEM = try await Self.startError(url: url) { $0.caFile = authority.directory + "/openssl.log" }
        #expect(notPEM.contains("not a PEM certificate file"), "\(notPEM)")
    }

    @Test("TLS settings with a redis:// URL, or rediss:// to a plain port, are refused")
    func tlsAndPlainDoNotMix() async throws {
        let plain = try await RedisTestServer.start()
        defer { plain.stop() }
        let mixed = try await Self.startError(url: "redis://127.0.0.1:\(plain.port)") { $0.caFile = "/etc/ssl/certs/ca-certificates.crt" }
        #expect(mixed.contains("use rediss:// to connect with TLS"), "\(mixed)")
        let notTLS = try await Self.startError(url: "rediss://127.0.0.1:\(plain.port)") { $0.insecureSkipVerification = true }
        #expect(notTLS.contains("TLS connection to Redis at 127.0.0.1:\(plain.port)"), "\(notTLS)")
        // A plain Redis reads the ClientHello as the start of an inline command and waits for the rest.
        #expect(notTLS.contains("no TLS handshake within the connect timeout"), "\(notTLS)")
        #expect(notTLS.contains("is 127.0.0.1:\(plain.port) a TLS port?"), "\(notTLS)")
    }

    @Test("insecure mode accepts a certificate nobody trusts, and says so loudly at start")
    func insecureModeSkipsVerification() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let redis = try await Self.redis(authority, certificate: try await authority.issue("expired", names: ["elsewhere"], expired: true))
        defer { redis.stop() }
        var configuration = RedisAdapterConfiguration(url: try RedisURL("rediss://127.0.0.1:\(redis.port)"), nodeName: "a")
        configuration.tls.insecureSkipVerification = true
        let logs = LogCapture()
        let adapter = RedisAdapter(configuration: configuration, logger: logs.logger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })
        #expect(adapter.status.state == "connected")
        #expect(logs.lines(containing: "REDIS TLS VERIFICATION IS OFF", atLeast: .warning).count == 1)
        await adapter.shutdown()

        configuration.tls.caFile = authority.caFile
        let both = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        let error = await #expect(throws: RedisAdapterError.self) { try await both.start(deliver: { _ in }, control: { _ in }) }
        #expect(error?.description.contains("tls.insecure turns off the certificate checks") == true, "\(error?.description ?? "")")
    }

    @Test("the CA file is read again on reconnect: a rotated file is used without a restart")
    func caFileIsReadOnReconnect() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let stranger = try await TestCertificates.makeAuthority(name: "stranger", in: authority.directory)
        let redis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        defer { redis.stop() }
        let trusted = authority.directory + "/trusted.pem"
        try FileManager.default.copyItem(atPath: authority.caFile, toPath: trusted)
        var configuration = RedisAdapterConfiguration(url: try RedisURL("rediss://localhost:\(redis.port)"), nodeName: "a")
        configuration.tls.caFile = trusted
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        try await adapter.start(deliver: { _ in }, control: { _ in })

        // The file now trusts another CA: the next connection refuses the server.
        try FileManager.default.removeItem(atPath: trusted)
        try FileManager.default.copyItem(atPath: stranger.caFile, toPath: trusted)
        redis.kill()
        try await redis.launch()
        try await eventually(within: .seconds(5)) { adapter.status.detail?.contains("certificate verify failed") == true }
        #expect(adapter.status.state == "reconnecting")

        // Back to the right CA: it reconnects, no restart.
        try FileManager.default.removeItem(atPath: trusted)
        try FileManager.default.copyItem(atPath: authority.caFile, toPath: trusted)
        try await eventually(within: .seconds(5)) { adapter.status.state == "connected" }
        await adapter.shutdown()
    }

    @Test("only a rediss:// connection has TLS handlers in its pipeline")
    func plainConnectionsHaveNoTLSHandler() async throws {
        let authority = try await TestCertificates.makeAuthority()
        defer { authority.remove() }
        let tlsRedis = try await Self.redis(authority, certificate: try await authority.issue("server"))
        defer { tlsRedis.stop() }
        let plainRedis = try await RedisTestServer.start()
        defer { plainRedis.stop() }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        for (url, isTLS) in [("redis://127.0.0.1:\(plainRedis.port)", false), ("rediss://localhost:\(tlsRedis.port)", true)] {
            let settings = RedisConnector.Settings(
                url: try RedisURL(url), connectTimeout: .seconds(3), limits: HiredisReader.Limits(maxReplyBytes: 1 << 20),
                clientName: "pipeline-check", tls: RedisTLSConfiguration(caFile: authority.caFile)
            )
            let channel = try await RedisConnector.connect(settings, on: eventLoop) { RedisCommandHandler() }.get()
            let pipeline = channel.pipeline.debugDescription
            #expect(pipeline.contains("NIOSSLClientHandler") == isTLS, "\(url): \(pipeline)")
            #expect(pipeline.contains("RedisTLSWatcher") == isTLS, "\(url): \(pipeline)")
            #expect(pipeline.contains("RedisCommandHandler"), "\(url): \(pipeline)")
            // Redis answers TLS's close_notify by closing TCP: an unclean shutdown, harmless here.
            try? await channel.close()
        }
    }

    // MARK: - Servers and start errors

    static func redis(_ authority: TestCertificates, certificate: TestCertificates.Issued, authClients: Bool = false) async throws -> RedisTestServer {
        try await RedisTestServer.start(tls: .init(
            certificateFile: certificate.certificateFile, keyFile: certificate.keyFile, caFile: authority.caFile, authClients: authClients
        ))
    }

    /// The description of the error that `start()` throws for `url` with the TLS settings of `configure`.
    static func startError(url: String, _ configure: (inout RedisTLSConfiguration) -> Void) async throws -> String {
        var configuration = RedisAdapterConfiguration(url: try RedisURL(url), nodeName: "a")
        configuration.connectTimeout = .seconds(3)
        configure(&configuration.tls)
        let adapter = RedisAdapter(configuration: configuration, logger: testLogger("a"))
        let error = await #expect(throws: RedisAdapterError.self) { try await adapter.start(deliver: { _ in }, control: { _ in }) }
        return error?.description ?? "no error"
    }
}
