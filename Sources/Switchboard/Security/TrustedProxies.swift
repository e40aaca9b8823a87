import NIOCore

/// The reverse proxies (HAProxy, say) whose forwarding headers are believed:
/// `X-Forwarded-Proto` and `X-Forwarded-Host` for ``CheckOrigin/conn``, and
/// `X-Forwarded-For` for the per-address connection limit. From any other
/// peer those headers are ignored. Empty by default: nothing is trusted.
public struct TrustedProxies: Sendable, Hashable, CustomStringConvertible {
    public var networks: [IPNetwork]

    public init(_ networks: [IPNetwork] = []) {
        self.networks = networks
    }

    /// Parses a comma-separated list of addresses and networks
    /// (`127.0.0.1, 10.0.0.0/8, ::1`); `nil` if an entry is malformed.
    public init?(parsing text: String) {
        var networks: [IPNetwork] = []
        for entry in text.split(separator: ",") where !String(entry).trimmingWhitespace().isEmpty {
            guard let network = IPNetwork(String(entry)) else { return nil }
            networks.append(network)
        }
        self.networks = networks
    }

    public var description: String { networks.map(\.description).joined(separator: ",") }

    /// Whether the peer at `address` is a trusted proxy.
    public func contains(_ address: SocketAddress?) -> Bool {
        guard !networks.isEmpty, let address, let bytes = IPNetwork.addressBytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// Whether the IP literal `address` is a trusted proxy.
    func contains(literal address: String) -> Bool {
        guard let bytes = IPNetwork.addressBytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address as a key for per-address limits: the peer's IP,
    /// or, when the peer is trusted, the right-most `X-Forwarded-For` entry
    /// that is not itself a trusted proxy (the one the closest untrusted hop
    /// connected from). Unparsable entries stop the walk at the last good one.
    func clientAddress(peer: SocketAddress?, forwardedFor: [String]) -> String? {
        guard let peer, let peerIP = peer.ipAddress else { return nil }
        guard contains(peer) else { return IPNetwork.addressBytes(peer).map(Self.key) ?? peerIP }
        var client = IPNetwork.addressBytes(peer).map(Self.key) ?? peerIP
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { String($0).trimmingWhitespace() }
        for hop in hops.reversed() {
            guard let bytes = IPNetwork.addressBytes(hop) else { break }
            client = Self.key(bytes)
            if !networks.contains(where: { $0.contains(bytes) }) { break }
        }
        return client
    }

    /// A canonical text form of address bytes, so `::ffff:1.2.3.4` and `1.2.3.4` count as one.
    private static func key(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
