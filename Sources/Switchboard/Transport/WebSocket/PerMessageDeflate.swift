/// permessage-deflate (RFC 7692) as this server agrees to it with one client.
///
/// The server always keeps no context between the messages it sends (it
/// answers `server_no_context_takeover`): each message is compressed on its
/// own, so a broadcast is compressed once per event loop and the same bytes
/// go to every subscriber that agreed to the same window
/// (``MessageFraming/webSocketDeflate(windowBits:)``). The client keeps its
/// context unless it offered `client_no_context_takeover`; the server then
/// keeps an inflater per connection (``WebSocketInflater``).
package struct PerMessageDeflate: Sendable, Hashable {
    /// The extension's token in `Sec-WebSocket-Extensions`.
    static let token = "permessage-deflate"

    /// The window the server compresses with (`server_max_window_bits`, 9 to 15).
    package var serverWindowBits = 15
    /// The window the client compresses with, which inflating needs.
    package var clientWindowBits = 15
    /// The client resets its compressor after each message.
    package var clientNoContextTakeover = false
    /// The client offered `client_max_window_bits` with a value: the answer repeats it.
    private var answersClientWindowBits = false
    /// The client offered `server_max_window_bits`: the answer repeats it.
    private var answersServerWindowBits = false

    /// The first offer among the `Sec-WebSocket-Extensions` header values
    /// that this server accepts, or `nil` (no compression for this client).
    /// An offer with an unknown, repeated or malformed parameter is declined,
    /// as is `server_max_window_bits=8`, which zlib cannot honour.
    static func negotiate(offers headerValues: [String]) -> PerMessageDeflate? {
        for offer in headerValues.flatMap({ $0.split(separator: ",") }) {
            if let agreement = accept(offer) { return agreement }
        }
        return nil
    }

    private static func accept(_ offer: Substring) -> PerMessageDeflate? {
        let parts = offer.split(separator: ";").map { String($0).trimmingWhitespace() }
        guard parts.first == token else { return nil }
        var agreement = PerMessageDeflate()
        var seen: Set<String> = []
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            guard let name = pair.first else { return nil }
            // A value may be quoted (RFC 7692 §7.1).
            let value = pair.count > 1 ? String(pair[1].drop { $0 == "\"" }.reversed().drop { $0 == "\"" }.reversed()) : nil
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                agreement.clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = value.flatMap(Int.init), (9...15).contains(bits) else { return nil }
                agreement.serverWindowBits = bits
                agreement.answersServerWindowBits = true
            case "client_max_window_bits":
                if let value {
                    guard let bits = Int(value), (8...15).contains(bits) else { return nil }
                    agreement.clientWindowBits = bits
                    agreement.answersClientWindowBits = true
                }
            default:
                return nil
            }
        }
        return agreement
    }

    /// The `Sec-WebSocket-Extensions` value of the answer.
    var responseHeader: String {
        var header = "\(Self.token); server_no_context_takeover"
        if clientNoContextTakeover { header += "; client_no_context_takeover" }
        if answersServerWindowBits { header += "; server_max_window_bits=\(serverWindowBits)" }
        if answersClientWindowBits { header += "; client_max_window_bits=\(clientWindowBits)" }
        return header
    }
}
