import Foundation

/// One HTTP/1.1 request over ``RawTCPConnection``, and its response as written.
package enum PlainHTTP {
    package struct Response: Sendable {
        package var status: Int
        package var head: String
        package var body: String
    }

    package static func request(
        port: Int,
        method: String = "GET",
        path: String,
        headers: [String: String] = [:],
        body: String = ""
    ) async throws -> Response {
        let connection = try await RawTCPConnection.connect(port: port)
        defer { connection.close() }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            request += "\(name): \(value)\r\n"
        }
        if method != "GET" {
            request += "Content-Length: \(body.utf8.count)\r\n"
        }
        request += "\r\n" + body
        try await connection.write(request)
        let head = try await connection.read(through: "\r\n\r\n")
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let length = head.split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        let bytes = try await connection.read(count: length ?? 0)
        return Response(status: status, head: head, body: String(decoding: bytes, as: UTF8.self))
    }
}
