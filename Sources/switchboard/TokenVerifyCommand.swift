import ArgumentParser
import Foundation
import Switchboard

/// `switchboard token verify [<token>]`: checks a token as `serve` would and
/// prints its claims as JSON; exits 1 with the reason (`expired`, …) otherwise.
struct TokenVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a socket token as the server would and print its claims.",
        discussion: """
            Uses token.public_key_file when configured, else SWITCHBOARD_SECRET_KEY_BASE \
            (or secret_key_base); token.namespace, token.max_age and token.clock_skew apply. \
            Without <token>, reads it from standard input (keeps it out of the process list).
            """
    )

    @Argument(help: "The token (default: read from standard input).")
    var token: String?

    @Option(help: ArgumentHelp("The socket namespace (aud) expected (default: token.namespace, user_socket).", valueName: "namespace"))
    var namespace: String?

    @Option(help: ArgumentHelp("YAML configuration file (default: $\(ServeConfiguration.configFileVariable), or none).", valueName: "path"))
    var config: String?

    func run() async throws {
        var settings = try await TokenCommand.settings(config: config)
        if let namespace { settings.tokenNamespace = namespace }
        if settings.secretKeyBase == nil, settings.tokenPublicKeyFile == nil {
            TokenCommand.fail(TokenCommand.noKeyMessage)
        }
        let verifier: TokenVerifier
        do {
            verifier = try await settings.tokenVerifier()
        } catch {
            TokenCommand.fail(error.description)
        }
        let text = token ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile().prefix(64 << 10), as: UTF8.self)
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch await verifier.verify(token) {
        case .valid(let claims):
            var json: JSONObject = [
                "sub": .string(claims.subject),
                "aud": .array(claims.audience.map(JSONValue.string)),
                "iat": Self.time(claims.issuedAt),
                "alg": .string(verifier.algorithm.rawValue),
            ]
            if let expiresAt = claims.expiresAt { json["exp"] = Self.time(expiresAt) }
            print(JSONValue.object(json).jsonString)
        case .rejected(let reason):
            TokenCommand.fail("token refused: \(reason)")
        }
    }

    /// Seconds since 1970, whole when they fit an `Int`.
    private static func time(_ date: Date) -> JSONValue {
        let seconds = date.timeIntervalSince1970
        return Int(exactly: seconds.rounded(.down)).map(JSONValue.int) ?? .double(seconds)
    }
}
