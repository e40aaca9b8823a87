import Foundation
import Switchboard

/// A minimal HTTP/1.1 client over loopback, for `POST /api/broadcast` and the admin API.
enum HTTPPost {
    /// Sends `POST /api/broadcast`-style requests and returns the response's status code.
    static func send(port: Int, path: String, apiKey: String, body: String) async throws -> Int {
        try await request(port: port, method: "POST", path: path, bearer: apiKey, body: body).status
    }

    /// Sends one request (`Connection: close`) and returns the status and the body parsed as JSON.
    static func request(
        port: Int, method: String = "GET", path: String, bearer: String, body: String? = nil
    ) async throws -> (status: Int, json: JSONValue?) {
        let socket = try TestSocket(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(bearer)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        try socket.send(head + "\r\n" + (body ?? ""))
        let response = try socket.readToEnd()
        let statusLine = response.prefix { $0 != "\r" }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw RedisTestServer.NotStarting(description: "not an HTTP response: \(statusLine)")
        }
        let text = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, try? JSONValue(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
