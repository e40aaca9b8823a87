/// How a ``RedisAdapter`` speaks TLS to a `rediss://` URL: which
/// certificates it trusts, which it presents, and which name it expects.
///
/// Files are named, not loaded: they are read again on every connection and
/// reconnection, so a CA bundle, client certificate or key replaced on disk
/// is used from the next connection on, without a restart.
///
/// ```swift
/// var configuration = RedisAdapterConfiguration(url: try RedisURL("rediss://:secret@redis.internal:6380"), nodeName: "a")
/// configuration.tls.caFile = "/etc/switchboard/redis-ca.pem"
/// ```
public struct RedisTLSConfiguration: Sendable, Hashable {
    /// PEM file of the certificate authorities that sign the server's
    /// certificate; `nil` trusts the system's store (what a managed Redis
    /// with a public certificate needs).
    public var caFile: String?
    /// PEM file of the client certificate (chain) for mutual TLS (Redis's
    /// `tls-auth-clients yes`); needs ``keyFile``.
    public var certificateFile: String?
    /// PEM file of the client certificate's private key.
    public var keyFile: String?
    /// The name sent in SNI and expected in the server's certificate; `nil`
    /// uses the URL's host (an IP address is then checked against the
    /// certificate's IP addresses and no SNI is sent).
    public var serverName: String?
    /// Turns off every check of the server's certificate: any server that
    /// speaks TLS is accepted, so the connection is encrypted but not
    /// authenticated. For tests only; the adapter logs a warning at start.
    public var insecureSkipVerification = false

    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        keyFile: String? = nil,
        serverName: String? = nil,
        insecureSkipVerification: Bool = false
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.insecureSkipVerification = insecureSkipVerification
    }

    /// Whether anything differs from the defaults.
    var isCustomized: Bool {
        self != RedisTLSConfiguration()
    }
}
