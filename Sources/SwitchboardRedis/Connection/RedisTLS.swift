#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOSSL
import NIOTLS

/// The TLS side of a `rediss://` connection, built from swift-nio-ssl: the
/// `NIOSSLContext` (files read anew for every connection), the client
/// handler with its server name, and TLS failures in plain words.
enum RedisTLS {
    /// A context from `configuration`'s files, read now. Call it off the
    /// event loop: it reads files.
    static func makeContext(_ configuration: RedisTLSConfiguration) throws(RedisAdapterError) -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        if configuration.insecureSkipVerification {
            tls.certificateVerification = .none
        }
        if let caFile = configuration.caFile {
            tls.trustRoots = .certificates(try certificates(caFile, what: "CA file (tls.ca_file)"))
        }
        switch (configuration.certificateFile, configuration.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try certificates(certificateFile, what: "client certificate file (tls.certificate_file)")
            if let leaf = chain.first, leaf.notValidAfter < time(nil) {
                let expiry = WallClock(secondsSinceEpoch: Int(leaf.notValidAfter))
                throw .invalidConfiguration("client certificate file (tls.certificate_file) \(certificateFile): the certificate expired on \(expiry)")
            }
            tls.certificateChain = chain.map { .certificate($0) }
            try checkReadable(keyFile, what: "client key file (tls.key_file)")
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw .invalidConfiguration("client key file (tls.key_file) \(keyFile): not a PEM private key (\(error))")
            }
        case (_?, nil):
            throw .invalidConfiguration("tls.certificate_file is set without tls.key_file; mutual TLS needs both")
        case (nil, _?):
            throw .invalidConfiguration("tls.key_file is set without tls.certificate_file; mutual TLS needs both")
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            // The key was read above: one refused now does not match the certificate.
            if case NIOSSLError.failedToLoadPrivateKey = error {
                throw .invalidConfiguration("the client key (tls.key_file) does not belong to the client certificate (tls.certificate_file)")
            }
            throw .invalidConfiguration("cannot set up TLS: \(reasonCodes(in: "\(error)"))")
        }
    }

    /// The handler that speaks TLS for `url`: SNI and the name checked are
    /// ``RedisTLSConfiguration/serverName``, else the URL's host; for an IP
    /// address no SNI is sent and the certificate's IP addresses are checked.
    static func clientHandler(context: NIOSSLContext, url: RedisURL, configuration: RedisTLSConfiguration) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverName(url: url, configuration: configuration))
    }

    /// The name sent in SNI and checked against the certificate, if any.
    static func serverName(url: RedisURL, configuration: RedisTLSConfiguration) -> String? {
        if let name = configuration.serverName { return name }
        let isAddress = (try? SocketAddress(ipAddress: url.host, port: 0)) != nil
        return isAddress ? nil : url.host
    }

    /// Whether `error` says that the server's certificate failed verification.
    static func isVerificationFailure(_ error: any Error) -> Bool {
        guard case NIOSSLError.handshakeFailed(let underlying) = error else { return false }
        return "\(underlying)".contains("CERTIFICATE_VERIFY_FAILED")
    }

    /// `error`, raised by the TLS handler, in words an operator can act on;
    /// `inspection` is what ``RedisCertificateInspection`` found out about a
    /// certificate that failed verification.
    static func describe(_ error: any Error, url: RedisURL, configuration: RedisTLSConfiguration, inspection: String? = nil) -> String {
        let trusted = configuration.caFile.map { "the CA in \($0)" } ?? "the system's trusted CAs"
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            let name = serverName(url: url, configuration: configuration) ?? url.host
            return "the server's certificate is not valid for \(name) (hostname verification failed); connect by a name the certificate lists, or set tls.server_name to it"
        }
        let text: String
        switch error {
        case NIOSSLError.handshakeFailed(let underlying):
            text = reasonCodes(in: "\(underlying)")
        case NIOSSLError.uncleanShutdown:
            return "the server closed the connection during TLS (does it speak TLS on this port, and does it want a client certificate?)"
        default:
            text = reasonCodes(in: "\(error)")
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            if let inspection {
                return "\(inspection) (certificate verify failed, trusting \(trusted))"
            }
            return "the server's certificate failed verification against \(trusted): it is not signed by that CA, has expired or is not yet valid (certificate verify failed)"
        }
        if text.contains("CERTIFICATE_REQUIRED") || text.contains("ALERT_HANDSHAKE_FAILURE") || text.contains("ALERT_BAD_CERTIFICATE")
            || text.contains("ALERT_UNKNOWN_CA") || text.contains("ALERT_CERTIFICATE_UNKNOWN")
        {
            let presented = configuration.certificateFile.map { "the client certificate \($0)" } ?? "no client certificate"
            return "the server refused the TLS connection with \(presented): it requires a client certificate it trusts (tls-auth-clients); set tls.certificate_file and tls.key_file (\(text))"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
            return "the server does not speak TLS on this port (is it a plain redis:// port?) (\(text))"
        }
        return "TLS failed: \(text)"
    }

    /// BoringSSL's reason codes in `text` (`TLSV1_ALERT_CERTIFICATE_REQUIRED`),
    /// without the error numbers and source paths around them; `text` itself
    /// when it has none.
    static func reasonCodes(in text: String) -> String {
        let marker = "OPENSSL_internal:"
        var codes: [Substring] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: marker) {
            rest = rest[range.upperBound...]
            let code = rest.prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
            if !code.isEmpty { codes.append(code) }
        }
        return codes.isEmpty ? text : codes.joined(separator: ", ")
    }

    /// The certificates of a PEM file, with an error that names the setting.
    private static func certificates(_ path: String, what: String) throws(RedisAdapterError) -> [NIOSSLCertificate] {
        try checkReadable(path, what: what)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .invalidConfiguration("\(what) \(path): not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else {
            throw .invalidConfiguration("\(what) \(path): holds no certificate")
        }
        return certificates
    }

    private static func checkReadable(_ path: String, what: String) throws(RedisAdapterError) {
        guard access(path, R_OK) == 0 else {
            throw .invalidConfiguration("\(what) \(path): \(String(cString: strerror(errno)).lowercased())")
        }
    }
}

/// Watches the TLS handler in front of it for the connector: whether the
/// TLS handshake completed, and the first error it raised.
///
/// While the connection is being set up, a TLS error is kept here for the
/// connector's message (``RedisTLS/describe(_:url:configuration:)``) and the
/// connection closed, rather than passed on to be logged by the connection's
/// role at every reconnect attempt. Once ``established``, errors go on as
/// usual — except an unclean shutdown (the peer closed TCP without TLS's
/// close_notify, as a killed Redis does), which only means the connection
/// is gone and is reported as such.
final class RedisTLSWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private(set) var firstError: (any Error)?
    private(set) var handshakeCompleted = false
    /// Set by the connector when it hands the connection out.
    var established = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            handshakeCompleted = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if firstError == nil {
            firstError = error
        }
        if established, !Self.isUncleanShutdown(error) {
            context.fireErrorCaught(error)
        } else {
            context.close(promise: nil)
        }
    }

    private static func isUncleanShutdown(_ error: any Error) -> Bool {
        if case NIOSSLError.uncleanShutdown = error { return true }
        return false
    }
}
