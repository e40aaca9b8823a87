import Foundation
import Switchboard
import SwitchboardTesting

/// Hand-made JWTs for the failure modes a well-behaved signer never
/// produces (no `iat`, a future `nbf`, `alg: none`, a numeric `sub`…). The
/// HS256 signature comes from the `openssl` command line, so the tests do
/// not reuse the code under test to sign.
enum CraftedToken {
    static func base64URL(_ text: String) -> String {
        base64URL(Data(text.utf8))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// `header.payload.signature`, HS256-signed with `secret`.
    static func hs256(header: String = #"{"alg":"HS256","typ":"JWT"}"#, payload: String, secret: String) throws -> String {
        let input = base64URL(header) + "." + base64URL(payload)
        return input + "." + base64URL(try hmacSHA256(input, key: secret))
    }

    /// `header.payload.` with an empty signature.
    static func unsigned(header: String, payload: String) -> String {
        base64URL(header) + "." + base64URL(payload) + "."
    }

    private static func hmacSHA256(_ message: String, key: String) throws -> Data {
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "key:\(key)", "-binary"],
            standardInput: .pipe, standardOutput: .pipe
        )
        try process.standardInput!.write(Array(message.utf8))
        process.standardInput!.close()
        let digest = Data(try process.standardOutput!.readToEnd())
        let termination = process.waitUntilExit()
        guard termination == .exited(0), digest.count == 32 else {
            throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "openssl HMAC failed"])
        }
        return digest
    }
}
