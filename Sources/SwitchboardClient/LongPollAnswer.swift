import NIOCore
import SwitchboardProtocol

/// The JSON body of a long-poll answer, as `Phoenix.Transports.LongPoll`
/// sends it (always with HTTP 200): `{"status": 410, "token": "…",
/// "messages": []}` for a new session, `{"status": 200, "token": "…",
/// "messages": ["<serialized message>", …]}`, `{"status": 204, "token": "…"}`,
/// `{"status": 200}` for a post, `{"status": 403}`, `{"status": 410}`, …
struct LongPollAnswer: Equatable {
    /// The `status` field (not the HTTP status).
    var status: Int
    /// The session token, when the answer carries one.
    var token: String?
    /// Each element one serialized Phoenix message; `nil` without a
    /// `messages` field.
    var messages: [String]?

    /// The deepest JSON the answer may have: an object holding an array of strings.
    private static let maxDepth = 4

    /// Parses `body`; throws ``ClientError/longPollFailed(_:)`` naming the
    /// problem (the way phoenix.js reads an unparsable answer as no answer).
    init(parsing body: ByteBuffer, httpStatus: Int) throws(ClientError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body, maxDepth: Self.maxDepth)
        } catch {
            throw ClientError.longPollFailed("HTTP \(httpStatus) answer is not JSON: \(Self.excerpt(body))")
        }
        guard case .object(let object) = json, case .int(let status)? = object["status"] else {
            throw ClientError.longPollFailed("HTTP \(httpStatus) answer has no integer status: \(Self.excerpt(body))")
        }
        self.status = status
        switch object["token"] {
        case .string(let token)?:
            self.token = token
        case nil, .null?:
            self.token = nil
        default:
            throw ClientError.longPollFailed("answer token is not a string: \(Self.excerpt(body))")
        }
        switch object["messages"] {
        case .array(let elements)?:
            var messages: [String] = []
            messages.reserveCapacity(elements.count)
            for element in elements {
                guard case .string(let message) = element else {
                    throw ClientError.longPollFailed("answer message is not a string: \(Self.excerpt(body))")
                }
                messages.append(message)
            }
            self.messages = messages
        case nil, .null?:
            self.messages = nil
        default:
            throw ClientError.longPollFailed("answer messages is not an array: \(Self.excerpt(body))")
        }
    }

    init(status: Int, token: String? = nil, messages: [String]? = nil) {
        self.status = status
        self.token = token
        self.messages = messages
    }

    /// The start of `body`, for error messages.
    private static func excerpt(_ body: ByteBuffer) -> String {
        let limit = 200
        let text = String(decoding: body.readableBytesView.prefix(limit), as: UTF8.self)
        return body.readableBytes > limit ? text + "…" : text
    }
}
