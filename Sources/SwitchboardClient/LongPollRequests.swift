import NIOCore
import NIOHTTP1

/// The HTTP requests of a long-poll session, as phoenix.js's LongPoll makes
/// them: `GET` (poll) and `POST` (send) to `<path>` with its last
/// `/websocket` replaced by `/longpoll`, the connect params, `vsn` and, once
/// the session has one, `token` in the query.
struct LongPollRequests {
    /// The request target without the token: `/socket/longpoll?…&vsn=2.0.0`.
    let baseTarget: String
    /// `Host` and the configured extra headers.
    let commonHeaders: HTTPHeaders
    let authToken: String?

    init(configuration: PhoenixClient.Configuration) {
        self.baseTarget = HandshakeRequest.requestTarget(
            path: Self.longPollPath(configuration.path),
            params: configuration.params,
            vsn: configuration.vsn.rawValue
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: HandshakeRequest.hostHeader(host: configuration.host, port: configuration.port))
        for (name, value) in configuration.headers {
            headers.add(name: name, value: value)
        }
        self.commonHeaders = headers
        self.authToken = configuration.authToken
    }

    /// phoenix.js `normalizeEndpoint`: the last `/websocket` becomes
    /// `/longpoll`; a path without one is used as is.
    static func longPollPath(_ path: String) -> String {
        let bytes = Array(path.utf8)
        let suffix = Array("/websocket".utf8)
        var start = bytes.count - suffix.count
        while start >= 0 {
            if bytes[start..<start + suffix.count].elementsEqual(suffix) {
                let replaced = bytes[..<start] + Array("/longpoll".utf8) + bytes[(start + suffix.count)...]
                return String(decoding: replaced, as: UTF8.self)
            }
            start -= 1
        }
        return path
    }

    /// The request target with `token` appended when there is one.
    func target(token: String?) -> String {
        guard let token else { return self.baseTarget }
        let separator = self.baseTarget.contains("?") ? "&" : "?"
        return self.baseTarget + separator + "token=" + HandshakeRequest.percentEncode(token)
    }

    /// A poll: `Accept: application/json` and, with an auth token,
    /// `X-Phoenix-AuthToken`.
    func poll(token: String?) -> HTTPRequestHead {
        var headers = self.commonHeaders
        headers.add(name: "Accept", value: "application/json")
        if let authToken = self.authToken {
            headers.add(name: "X-Phoenix-AuthToken", value: authToken)
        }
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: self.target(token: token), headers: headers)
    }

    /// A post of newline-delimited messages.
    func post(token: String?) -> HTTPRequestHead {
        var headers = self.commonHeaders
        headers.add(name: "Content-Type", value: "application/x-ndjson")
        return HTTPRequestHead(version: .http1_1, method: .POST, uri: self.target(token: token), headers: headers)
    }
}
