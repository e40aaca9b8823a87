import NIOCore

/// An IP address or network (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`, `::1`),
/// for trusted-proxy lists. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`)
/// are matched as IPv4.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16), host bits cleared.
    let bytes: [UInt8]
    /// The prefix length in bits.
    let prefixLength: Int

    /// Parses `address` or `address/prefix`; `nil` if malformed.
    public init?(_ text: String) {
        let parts = text.trimmingWhitespace().split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let bytes = Self.addressBytes(String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard (1...3).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let length = Int(parts[1]), length <= bits
            else { return nil }
            prefix = length
        }
        self.prefixLength = prefix
        self.bytes = Self.masked(bytes, prefix: prefix)
    }

    /// Whether the address (as ``addressBytes(_:)`` returns it) lies in this network.
    func contains(_ address: [UInt8]) -> Bool {
        address.count == bytes.count && Self.masked(address, prefix: prefixLength) == bytes
    }

    public var description: String {
        let address: String
        if bytes.count == 4 {
            address = bytes.map(String.init).joined(separator: ".")
        } else {
            address = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return "\(address)/\(prefixLength)"
    }

    /// The bytes of an IP literal (4 for IPv4 and IPv4-mapped IPv6, 16 for
    /// IPv6), `nil` if it is not one. Brackets around IPv6 are accepted.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        guard !text.isEmpty, text.utf8.count <= 45,
              text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }),
              let address = try? SocketAddress(ipAddress: String(text), port: 0)
        else { return nil }
        return addressBytes(address)
    }

    /// The bytes of a socket address's IP, IPv4-mapped IPv6 as IPv4.
    static func addressBytes(_ address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return Array(bytes[12...])
            }
            return bytes
        default:
            return nil
        }
    }

    private static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = prefix - index * 8
            if bits >= 8 { return byte }
            if bits <= 0 { return 0 }
            return byte & ~(0xFF >> UInt8(bits))
        }
    }
}
