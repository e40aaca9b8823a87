#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Says why the server's certificate failed verification, which BoringSSL
/// does not tell: one more TLS connection, without verification and without
/// sending anything, fetches the certificate, whose dates show whether it
/// expired or is not valid yet; otherwise no trusted CA signed it.
///
/// Only made after a verification failure, so that an operator reads
/// "expired on …" rather than a list of possible causes.
enum RedisCertificateInspection {
    /// Why the certificate of the server at `url` is not accepted, or `nil`
    /// when it cannot be fetched within `timeout`.
    static func reason(
        url: RedisURL,
        configuration: RedisTLSConfiguration,
        timeout: Duration,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<String?> {
        peerCertificate(url: url, configuration: configuration, timeout: timeout, on: eventLoop).map { certificate in
            guard let certificate else { return nil }
            let now = time(nil)
            if certificate.notValidAfter < now {
                return "the server's certificate expired on \(WallClock(secondsSinceEpoch: Int(certificate.notValidAfter)))"
            }
            if certificate.notValidBefore > now {
                return "the server's certificate is not valid before \(WallClock(secondsSinceEpoch: Int(certificate.notValidBefore)))"
            }
            let trusted = configuration.caFile.map { "the CA in \($0)" } ?? "the system's trusted CAs"
            return "the server's certificate is not signed by \(trusted)"
        }
    }

    private static func peerCertificate(
        url: RedisURL,
        configuration: RedisTLSConfiguration,
        timeout: Duration,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<NIOSSLCertificate?> {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            return eventLoop.makeSucceededFuture(nil)
        }
        let promise = eventLoop.makePromise(of: NIOSSLCertificate?.self)
        let deadline = eventLoop.scheduleTask(in: TimeAmount(timeout)) { promise.succeed(nil) }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let serverName = RedisTLS.serverName(url: url, configuration: configuration)
                    try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try sync.addHandler(PeerCertificateCatcher(promise: promise))
                }
            }
            .connect(host: url.host, port: url.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure:
                    promise.succeed(nil)
                }
            }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    /// Completes its promise with the peer's certificate once the TLS
    /// handshake completed, or with `nil` on an error or close.
    private final class PeerCertificateCatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        private let promise: EventLoopPromise<NIOSSLCertificate?>

        init(promise: EventLoopPromise<NIOSSLCertificate?>) {
            self.promise = promise
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
                let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                promise.succeed(handler?.peerCertificate)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.succeed(nil)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed(nil)
            context.fireChannelInactive()
        }
    }
}
