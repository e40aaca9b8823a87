import Foundation
import Switchboard
import SwitchboardTesting

/// `POST /api/broadcast` and admin API requests with a bearer key, over
/// ``PlainHTTP``: non-blocking, because the in-process server answering them
/// needs the same small cooperative thread pool as the test.
enum HTTPPost {
    /// Sends `POST /api/broadcast`-style requests and returns the response's status code.
    static func send(port: Int, path: String, apiKey: String, body: String) async throws -> Int {
        try await request(port: port, method: "POST", path: path, bearer: apiKey, body: body).status
    }

    /// Sends one request (`Connection: close`) and returns the status and the body parsed as JSON.
    static func request(
        port: Int, method: String = "GET", path: String, bearer: String, body: String? = nil
    ) async throws -> (status: Int, json: JSONValue?) {
        var headers = ["Authorization": "Bearer \(bearer)"]
        if body != nil { headers["Content-Type"] = "application/json" }
        let response = try await PlainHTTP.request(port: port, method: method, path: path, headers: headers, body: body ?? "")
        return (response.status, try? JSONValue(parsing: response.body.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
