import Foundation

/// A long-poll client spoken by hand, one request per connection
/// (``PlainHTTP``), for checks of what the transport answers.
package struct RawLongPoll: Sendable {
    /// A long-poll answer: the body's status, token and messages.
    package struct Answer: Sendable {
        package var httpStatus: Int
        package var status: Int
        package var token: String?
        package var messages: [String]
        package var error: String?
    }

    package struct Unexpected: Error, CustomStringConvertible {
        package var description: String
    }

    package let port: Int
    package let path: String
    package let query: String
    package let token: String

    /// The session `token` names, spoken to at `port` (another node, a proxy).
    package init(port: Int, path: String, query: String, token: String) {
        self.port = port
        self.path = path
        self.query = query
        self.token = token
    }

    /// Opens a session; fails unless the answer is 410 with a token.
    package static func open(port: Int, path: String = "/socket/longpoll", params: String = "user_id=1", headers: [String] = []) async throws -> RawLongPoll {
        let query = "vsn=2.0.0" + (params.isEmpty ? "" : "&" + params)
        let answer = try await request(port: port, method: "GET", target: "\(path)?\(query)", headers: headers)
        guard answer.status == 410, let token = answer.token else {
            throw Unexpected(description: "connect answered \(answer)")
        }
        return RawLongPoll(port: port, path: path, query: query, token: token)
    }

    package var target: String { "\(path)?\(query)&token=\(token)" }

    package func poll() async throws -> Answer {
        try await Self.request(port: port, method: "GET", target: target)
    }

    /// Posts `lines` as one ndjson body (or, with `ndjson` off, the first line alone).
    package func post(_ lines: [String], ndjson: Bool = true) async throws -> Answer {
        let body = ndjson ? lines.joined(separator: "\n") : lines[0]
        let headers = ndjson ? ["Content-Type: application/x-ndjson"] : ["Content-Type: application/json"]
        return try await Self.request(port: port, method: "POST", target: target, headers: headers, body: body)
    }

    /// Polls until the answers have brought `count` messages (at most `limit` polls).
    package func messages(count: Int, limit: Int = 20) async throws -> [String] {
        var messages: [String] = []
        for _ in 0..<limit where messages.count < count {
            let answer = try await poll()
            guard answer.status == 200 || answer.status == 204 else { throw Unexpected(description: "poll answered \(answer)") }
            messages += answer.messages
        }
        return messages
    }

    /// One request; `headers` as `Name: value` lines.
    package static func request(port: Int, method: String, target: String, headers: [String] = [], body: String? = nil) async throws -> Answer {
        var fields: [String: String] = [:]
        for header in headers {
            let parts = header.split(separator: ":", maxSplits: 1)
            fields[String(parts[0])] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        }
        let response = try await PlainHTTP.request(port: port, method: method, path: target, headers: fields, body: body ?? "")
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
