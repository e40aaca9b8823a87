import ArgumentParser
import Foundation
import Switchboard

/// `switchboard token sign --sub 42 [--ttl 10m] [--namespace …]`: prints a
/// signed token, alone, on stdout.
struct TokenSignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Print a signed socket token for a user.",
        discussion: """
            HS256 with SWITCHBOARD_SECRET_KEY_BASE (or secret_key_base in the config file), \
            or RS256 / ES256 with --private-key.
            """
    )

    @Option(help: ArgumentHelp("The user id (the token's sub).", valueName: "id"))
    var sub: String

    @Option(help: ArgumentHelp("How long the token is valid: 90s, 10m, 2h.", valueName: "duration"))
    var ttl: String = "10m"

    @Option(help: ArgumentHelp("The socket namespace (aud) (default: token.namespace, user_socket).", valueName: "namespace"))
    var namespace: String?

    @Option(help: ArgumentHelp("A PEM RSA or P-256 private key: sign RS256 / ES256 instead of HS256.", valueName: "path"))
    var privateKey: String?

    @Option(help: ArgumentHelp("YAML configuration file (default: $\(ServeConfiguration.configFileVariable), or none).", valueName: "path"))
    var config: String?

    func run() async throws {
        guard let ttl = SettingText.duration(ttl), ttl >= .seconds(1) else {
            TokenCommand.fail("invalid value \"\(ttl)\" for --ttl: expected a duration of at least 1s, such as 90s, 10m or 2h")
        }
        let settings = try await TokenCommand.settings(config: config)
        let signer: TokenSigner
        if let privateKey {
            guard let pem = try? String(contentsOfFile: privateKey, encoding: .utf8) else {
                TokenCommand.fail("cannot read the private key file \(privateKey)")
            }
            do {
                signer = try await TokenSigner(privateKeyPEM: pem)
            } catch {
                TokenCommand.fail("\(privateKey): \(error)")
            }
        } else {
            guard let secret = settings.secretKeyBase else {
                TokenCommand.fail("no secret: set SWITCHBOARD_SECRET_KEY_BASE (at least \(SecretKeyBase.minimumLength) bytes) or secret_key_base in the config file, or pass --private-key")
            }
            signer = await TokenSigner(secretKeyBase: secret)
        }
        do {
            let token = try await signer.sign(subject: sub, namespace: namespace ?? settings.tokenNamespace, ttl: ttl)
            print(token)
        } catch {
            TokenCommand.fail("\(error)")
        }
    }
}
