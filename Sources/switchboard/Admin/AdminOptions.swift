import ArgumentParser
import Foundation
import NIOHTTP1
import Switchboard

/// The options every `switchboard admin` command shares.
struct AdminOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's admin API.", valueName: "url"))
    var url = "http://127.0.0.1:4100"

    @Option(help: ArgumentHelp("Admin token (default: $\(AdminConfiguration.tokenEnvironmentVariable)).", valueName: "token"))
    var token: String?

    @Flag(help: "Print the API's JSON answer instead of text.")
    var json = false

    /// Sends the request and returns its JSON on success; prints the error
    /// and exits 1 otherwise, and prints the JSON itself with `--json`.
    func call(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue? {
        guard let token = token ?? ProcessInfo.processInfo.environment[AdminConfiguration.tokenEnvironmentVariable], !token.isEmpty else {
            Self.printError("no admin token: pass --token or set \(AdminConfiguration.tokenEnvironmentVariable)")
            throw ExitCode.failure
        }
        let response: AdminHTTPClient.Response
        do {
            response = try await AdminHTTPClient(url: url, token: token).send(method: method, path: path, body: body)
        } catch {
            Self.printError("\(error)")
            throw ExitCode.failure
        }
        if json {
            print(response.json.description)
        }
        guard (200..<300).contains(response.status) else {
            let message = response.json["error"]?.stringValue ?? response.json.description
            let hint = response.status == 401 ? " (check --token or \(AdminConfiguration.tokenEnvironmentVariable))" : ""
            Self.printError("\(url)\(path) answered \(response.status): \(message)\(hint)")
            throw ExitCode.failure
        }
        return json ? nil : response.json
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }
}
