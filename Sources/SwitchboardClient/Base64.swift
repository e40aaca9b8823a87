/// Base64 encoding (RFC 4648), written with the standard library so the
/// client needs no Foundation: the standard alphabet with `=` padding (long-poll
/// binary lines, as JavaScript's `btoa`), and base64url without padding (the
/// auth token subprotocol).
enum Base64 {
    private static let standardAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The standard base64 text of `bytes`, padded with `=`.
    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        self.encode(bytes, alphabet: self.standardAlphabet, padded: true)
    }

    /// The base64url text of `bytes`, `=` padding left out.
    static func encodeURL<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        self.encode(bytes, alphabet: self.urlAlphabet, padded: false)
    }

    /// The base64url text of the UTF-8 bytes of `string`, `=` padding left out.
    static func encodeURL(_ string: String) -> String {
        self.encodeURL(string.utf8)
    }

    private static func encode<Bytes: Sequence>(_ bytes: Bytes, alphabet: [UInt8], padded: Bool) -> String
    where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(alphabet[Int(chunk & 0x3F)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let chunk = UInt32(input[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            if padded {
                output.append(UInt8(ascii: "="))
                output.append(UInt8(ascii: "="))
            }
        case 2:
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            if padded {
                output.append(UInt8(ascii: "="))
            }
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }
}
