import Foundation
import Testing
@testable import SwitchboardTesting

/// `switchboard token sign|verify` and `switchboard serve` with token auth,
/// as an operator runs them (the built executable, a child process).
@Suite(.timeLimit(.minutes(2)))
struct TokenCommandTests {
    static let secret = "command-line-secret-command-line-secret-42"
    static let environment = ["SWITCHBOARD_SECRET_KEY_BASE": secret]
    static let upgrade = [
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
    ]

    static func sign(_ arguments: [String] = [], environment: [String: String] = environment) async throws -> String {
        let result = try await SwitchboardProcess.run(["token", "sign", "--sub", "42"] + arguments, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        return result.stdout
    }

    @Test func signPrintsTheTokenAloneAndVerifyReadsIt() async throws {
        let output = try await Self.sign(["--ttl", "90s"])
        #expect(output.hasSuffix("\n"))
        let token = output.trimmingCharacters(in: .newlines)
        #expect(token.split(separator: ".").count == 3)
        #expect(!token.contains(" "))
        let verified = try await SwitchboardProcess.run(["token", "verify", token], environment: Self.environment)
        #expect(verified.status == 0)
        #expect(verified.stdout.hasPrefix(#"{"sub":"42","aud":["user_socket"],"iat":"#))
        #expect(verified.stdout.contains(#""alg":"HS256""#))
    }

    @Test func verifyRefusesWithTheReason() async throws {
        let other = try await Self.sign(["--namespace", "admin_socket"]).trimmingCharacters(in: .newlines)
        let wrongNamespace = try await SwitchboardProcess.run(["token", "verify", other], environment: Self.environment)
        #expect(wrongNamespace.status == 1)
        #expect(wrongNamespace.stderr == "Error: token refused: wrong_namespace\n")

        let token = try await Self.sign().trimmingCharacters(in: .newlines)
        let wrongKey = try await SwitchboardProcess.run(
            ["token", "verify", token], environment: ["SWITCHBOARD_SECRET_KEY_BASE": String(Self.secret.reversed())]
        )
        #expect(wrongKey.stderr == "Error: token refused: invalid\n")
        #expect(!wrongKey.stderr.contains(token))

        let tooOld = try await SwitchboardProcess.run(
            ["token", "verify", token], environment: Self.environment.merging(["SWITCHBOARD_TOKEN_MAX_AGE": "1s", "SWITCHBOARD_TOKEN_CLOCK_SKEW": "0"]) { $1 }
        )
        // Issued within the last second or two: give max_age time to pass.
        if tooOld.status == 0 {
            try await Task.sleep(for: .seconds(2))
            let later = try await SwitchboardProcess.run(
                ["token", "verify", token], environment: Self.environment.merging(["SWITCHBOARD_TOKEN_MAX_AGE": "1s", "SWITCHBOARD_TOKEN_CLOCK_SKEW": "0"]) { $1 }
            )
            #expect(later.stderr == "Error: token refused: expired\n")
        } else {
            #expect(tooOld.stderr == "Error: token refused: expired\n")
        }
    }

    @Test func missingAndShortSecretsAreOneLineWithoutTheSecret() async throws {
        let none = try await SwitchboardProcess.run(["token", "sign", "--sub", "1"])
        #expect(none.status == 1)
        #expect(none.stderr.hasPrefix("Error: no secret: set SWITCHBOARD_SECRET_KEY_BASE"))
        let short = try await SwitchboardProcess.run(["token", "sign", "--sub", "1"], environment: ["SWITCHBOARD_SECRET_KEY_BASE": "hunter2"])
        #expect(short.status == 1)
        #expect(short.stderr == "Error: invalid value \"<redacted>\" for secret_key_base (from SWITCHBOARD_SECRET_KEY_BASE): must be at least 32 bytes long (got 7); generate one with `openssl rand -base64 48`\n")
        let serve = try await SwitchboardProcess.run(["serve", "--port", "0"])
        #expect(serve.status == 1)
        #expect(serve.stderr.hasPrefix("Error: auth token (the default) needs a key: set SWITCHBOARD_SECRET_KEY_BASE"))
        #expect(serve.stderr.split(separator: "\n").count == 1)
    }

    @Test func publicKeyFilesVerifyWhatTheBackendSigned() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let privateKey = directory.appendingPathComponent("backend.pem").path
        let publicKey = directory.appendingPathComponent("backend.pub").path
        try TestKeys.ecPrivate.write(toFile: privateKey, atomically: true, encoding: .utf8)
        try TestKeys.ecPublic.write(toFile: publicKey, atomically: true, encoding: .utf8)
        let token = try await Self.sign(["--private-key", privateKey], environment: [:]).trimmingCharacters(in: .newlines)
        let verified = try await SwitchboardProcess.run(["token", "verify", token], environment: ["SWITCHBOARD_TOKEN_PUBLIC_KEY_FILE": publicKey])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains(#""alg":"ES256""#))
        // The HS256 secret cannot stand in for the backend's key.
        let hmac = try await Self.sign().trimmingCharacters(in: .newlines)
        let refused = try await SwitchboardProcess.run(
            ["token", "verify", hmac], environment: Self.environment.merging(["SWITCHBOARD_TOKEN_PUBLIC_KEY_FILE": publicKey]) { $1 }
        )
        #expect(refused.stderr == "Error: token refused: invalid\n")
    }

    @Test func serveRequiresATokenByDefault() async throws {
        let server = try SwitchboardProcess(["serve", "--port", "0", "--check-origin", "//app.example.com"], environment: Self.environment)
        let port = try await server.listeningPort()
        #expect(!server.stderr.contains("auth: none"))
        #expect(!server.stderr.contains(Self.secret))
        let token = try await Self.sign().trimmingCharacters(in: .newlines)

        let missing = try await PlainHTTP.request(port: port, path: "/socket/websocket?vsn=2.0.0", headers: Self.upgrade)
        #expect(missing.status == 403)
        #expect(missing.body.isEmpty)
        let badOrigin = try await PlainHTTP.request(
            port: port, path: "/socket/websocket?vsn=2.0.0&token=\(token)", headers: Self.upgrade.merging(["Origin": "https://evil.example"]) { $1 }
        )
        #expect(badOrigin.status == 403)
        let socket = try await RawWebSocket.connect(port: port, path: "/socket/websocket?vsn=2.0.0&token=\(token)&user_id=43")
        defer { socket.close() }
        try await socket.send(#"["1","1","user:42","phx_join",{}]"#)
        #expect(try await socket.receiveText() == #"["1","1","user:42","phx_reply",{"status":"ok","response":{}}]"#)
        try await socket.send(#"["2","2","user:43","phx_join",{}]"#)
        #expect(try await socket.receiveText() == #"["2","2","user:43","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#)
        // No demo page with tokens.
        #expect(try await PlainHTTP.request(port: port, path: "/").status == 404)

        server.terminate()
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 0)
        #expect(server.stderr.contains("reason=missing"))
        #expect(server.stderr.contains("socket origin refused"))
        #expect(!server.stderr.contains(token))
    }
}
