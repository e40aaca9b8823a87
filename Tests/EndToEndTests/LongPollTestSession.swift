import Foundation

/// A long-poll client spoken by hand, one request per connection, for
/// checks of what the transport answers.
struct LongPollTestSession {
    /// A long-poll answer: the body's status, token and messages.
    struct Answer {
        var httpStatus: Int
        var status: Int
        var token: String?
        var messages: [String]
        var error: String?
    }

    struct Unexpected: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    let path: String
    let query: String
    let token: String

    /// Opens a session; fails unless the answer is 410 with a token.
    static func open(port: Int, path: String = "/socket/longpoll", params: String = "user_id=1", headers: [String] = []) async throws -> LongPollTestSession {
        let query = "vsn=2.0.0" + (params.isEmpty ? "" : "&" + params)
        let answer = try await request(port: port, method: "GET", target: "\(path)?\(query)", headers: headers)
        guard answer.status == 410, let token = answer.token else {
            throw Unexpected(description: "connect answered \(answer)")
        }
        return LongPollTestSession(port: port, path: path, query: query, token: token)
    }

    var target: String { "\(path)?\(query)&token=\(token)" }

    func poll() async throws -> Answer {
        try await Self.request(port: port, method: "GET", target: target)
    }

    /// Posts `lines` as one ndjson body (or, with `ndjson` off, the first line alone).
    func post(_ lines: [String], ndjson: Bool = true) async throws -> Answer {
        let body = ndjson ? lines.joined(separator: "\n") : lines[0]
        let headers = ndjson ? ["Content-Type: application/x-ndjson"] : ["Content-Type: application/json"]
        return try await Self.request(port: port, method: "POST", target: target, headers: headers, body: body)
    }

    /// Polls until the answers have brought `count` messages (at most `limit` polls).
    func messages(count: Int, limit: Int = 20) async throws -> [String] {
        var messages: [String] = []
        for _ in 0..<limit where messages.count < count {
            let answer = try await poll()
            guard answer.status == 200 || answer.status == 204 else { throw Unexpected(description: "poll answered \(answer)") }
            messages += answer.messages
        }
        return messages
    }

    static func request(port: Int, method: String, target: String, headers: [String] = [], body: String? = nil) async throws -> Answer {
        let response = try await RawHTTP.request(port: port, method: method, path: target, headers: headers, body: body)
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any] ?? [:]
        return Answer(
            httpStatus: response.status,
            status: json["status"] as? Int ?? -1,
            token: json["token"] as? String,
            messages: json["messages"] as? [String] ?? [],
            error: json["error"] as? String
        )
    }
}
