/// Which web origins may open a socket (Phoenix's `check_origin`). Requests
/// without an `Origin` header (non-browser clients) are always allowed;
/// `null`, hostless and unparsable origins are refused by every check but
/// ``disabled``. A refusal is an HTTP 403 with an empty body.
public enum CheckOrigin: Sendable, Hashable, CustomStringConvertible {
    /// `false`: no check.
    case disabled
    /// `true`: the origin's host must equal ``ServerConfiguration/publicHost``.
    case publicHost
    /// `conn`: the origin's scheme, host and port must equal the request's own
    /// (its `Host` header, `http`), or those a trusted proxy forwarded in
    /// `X-Forwarded-Proto` / `X-Forwarded-Host`.
    case conn
    /// A list: the origin must match one of the entries.
    case allowList([OriginPattern])
    /// Application code decides.
    case custom(OriginCheckHook)

    /// Parses `true`, `false`, `conn`, or a comma-separated list of origins
    /// (``OriginPattern``).
    public init(parsing text: String) throws(OriginPattern.ParseError) {
        switch text.trimmingWhitespace().lowercased() {
        case "true": self = .publicHost
        case "false": self = .disabled
        case "conn": self = .conn
        default:
            var patterns: [OriginPattern] = []
            for entry in text.split(separator: ",") where !String(entry).trimmingWhitespace().isEmpty {
                patterns.append(try OriginPattern(String(entry)))
            }
            guard !patterns.isEmpty else { throw OriginPattern.ParseError(entry: text) }
            self = .allowList(patterns)
        }
    }

    public var description: String {
        switch self {
        case .disabled: return "false"
        case .publicHost: return "true"
        case .conn: return "conn"
        case .allowList(let patterns): return patterns.map(\.description).joined(separator: ",")
        case .custom(let hook): return "custom(\(hook.name))"
        }
    }

    /// Whether a request may proceed.
    ///
    /// - Parameters:
    ///   - originHeaders: every `Origin` header value of the request.
    ///   - request: the request's own origin for ``conn`` (``Origin/forRequest(headers:trustForwarded:)``).
    ///   - publicHost: the configured host for ``publicHost``.
    ///   - info: the request, for ``custom(_:)``.
    func allows(originHeaders: [String], request: @autoclosure () -> Origin?, publicHost: String, info: @autoclosure () -> ConnectInfo) -> Bool {
        if case .disabled = self { return true }
        guard let header = originHeaders.first else { return true }
        guard originHeaders.count == 1, let origin = Origin(header) else { return false }
        switch self {
        case .disabled:
            return true
        case .publicHost:
            return origin.host == publicHost.lowercased()
        case .conn:
            return request() == origin
        case .allowList(let patterns):
            return patterns.contains { $0.matches(origin) }
        case .custom(let hook):
            return hook.check(origin, info())
        }
    }
}
