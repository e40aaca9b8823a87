import ArgumentParser
import Foundation
import Switchboard

/// `switchboard token sign|verify`: mint and check socket tokens with the
/// same key and settings as `switchboard serve` (`SWITCHBOARD_SECRET_KEY_BASE`
/// or `secret_key_base` in the config file, `token.*` settings).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Sign and verify socket tokens.",
        subcommands: [TokenSignCommand.self, TokenVerifyCommand.self]
    )

    /// The serve settings from `--config` / `SWITCHBOARD_CONFIG` and the environment.
    static func settings(config: String?) async throws -> ServeSettings {
        do {
            return try await ServeConfiguration(configPath: config, flags: [:], environment: ProcessInfo.processInfo.environment).load()
        } catch {
            fail(error.description)
        }
    }

    /// What to say when token auth has no key to verify with.
    static let noKeyMessage = "auth token (the default) needs a key: set SWITCHBOARD_SECRET_KEY_BASE to a secret of at least \(SecretKeyBase.minimumLength) bytes (openssl rand -base64 48), or token.public_key_file to a PEM public key; use --auth none for a local demo"

    /// Prints `Error: <message>` on stderr and exits 1.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}
