/// A minimal HTTP/1.1 POST over loopback, for `POST /api/broadcast`.
enum HTTPPost {
    /// Sends the request and returns the response's status code.
    static func send(port: Int, path: String, apiKey: String, body: String) async throws -> Int {
        let socket = try TestSocket(port: port)
        try socket.send(
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(apiKey)\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        )
        let statusLine = try socket.readLines(count: 1).first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw RedisTestServer.NotStarting(description: "not an HTTP response: \(statusLine)")
        }
        return status
    }
}
