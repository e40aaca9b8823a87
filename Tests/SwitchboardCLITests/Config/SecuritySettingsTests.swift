import Configuration
import Testing

@testable import Switchboard
@testable import switchboard

/// The security keys of `switchboard serve`'s settings.
@Suite struct SecuritySettingsTests {
    @Test func securitySettingsParse() throws {
        let settings = try ServeSettings(reader: .serve(environment: [
            "SWITCHBOARD_SECRET_KEY_BASE": String(repeating: "s", count: 40),
            "SWITCHBOARD_TOKEN_NAMESPACE": "chat",
            "SWITCHBOARD_TOKEN_MAX_AGE": "2h",
            "SWITCHBOARD_TOKEN_CLOCK_SKEW": "5s",
            "SWITCHBOARD_CHECK_ORIGIN": "https://example.com,//*.example.org",
            "SWITCHBOARD_PUBLIC_HOST": "chat.example.com",
            "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8",
            "SWITCHBOARD_LIMITS_MAX_CONNECTIONS_PER_ADDRESS": "20",
            "SWITCHBOARD_LIMITS_MESSAGE_RATE": "50",
        ]))
        #expect(settings.auth == .token)
        #expect(settings.secretKeyBase == (try SecretKeyBase(String(repeating: "s", count: 40))))
        #expect(settings.tokenNamespace == "chat")
        #expect(settings.tokenMaxAge == .seconds(7200))
        #expect(settings.tokenClockSkew == .seconds(5))
        #expect(settings.checkOrigin == .allowList([try OriginPattern("https://example.com"), try OriginPattern("//*.example.org")]))
        let configuration = settings.serverConfiguration
        #expect(configuration.publicHost == "chat.example.com")
        #expect(configuration.trustedProxies == TrustedProxies(parsing: "127.0.0.1,10.0.0.0/8"))
        #expect(configuration.limits.maxConnectionsPerAddress == 20)
        #expect(configuration.limits.inboundMessageRate == MessageRate(perSecond: 50, burst: 100))
        #expect(configuration.pages.isEmpty)
        #expect(settings.endpoint.checkOrigin == settings.checkOrigin)
    }

    @Test func defaultsAreTokensAndTheRequestsOwnOrigin() throws {
        let settings = try ServeSettings(reader: .serve())
        #expect(settings.auth == .token)
        #expect(settings.checkOrigin == .conn)
        #expect(settings.tokenNamespace == "user_socket")
        #expect(settings.serverConfiguration.limits.inboundMessageRate == MessageRate(perSecond: 200, burst: 400))
        #expect(settings.serverConfiguration.limits.maxConnectionsPerAddress == nil)
        #expect(try ServeSettings(reader: .serve(flags: [.messageRate: "0"])).serverConfiguration.limits.inboundMessageRate == nil)
    }

    @Test func aShortSecretIsRefusedWithoutEchoingIt() {
        let secret = "too-short-secret"
        do {
            _ = try ServeSettings(reader: .serve(environment: ["SWITCHBOARD_SECRET_KEY_BASE": secret]))
            Issue.record("accepted a short secret")
        } catch {
            #expect(!error.description.contains(secret))
            #expect(error.description.hasPrefix(#"invalid value "<redacted>" for secret_key_base (from SWITCHBOARD_SECRET_KEY_BASE): must be at least 32 bytes long (got 16)"#))
        }
    }

    @Test(arguments: [
        (ServeSettingKey.checkOrigin, "example.com"),
        (.trustedProxies, "localhost"),
        (.tokenClockSkew, "1h"),
        (.tokenMaxAge, "0"),
        (.maxConnectionsPerAddress, "-1"),
        (.messageBurst, "0"),
        (.publicHost, "https://x"),
    ])
    func badSecuritySettingsAreRefused(key: ServeSettingKey, value: String) {
        #expect(throws: ServeSettingsError.self) { try ServeSettings(reader: .serve(flags: [key: value])) }
    }

    @Test func tokenAuthNeedsAKey() async throws {
        let settings = try ServeSettings(reader: .serve())
        await #expect(throws: ServeSettingsError.self) { try await settings.tokenVerifier() }
        var withKeyFile = settings
        withKeyFile.tokenPublicKeyFile = "/nonexistent/key.pem"
        await #expect(throws: ServeSettingsError.self) { try await withKeyFile.tokenVerifier() }
        var demo = settings
        demo.auth = .none
        let endpoint = try await demo.makeEndpoint(logger: .init(label: "test"))
        #expect(endpoint.socket is DemoSocket)
    }

    @Test func settingsNeverPrintTheSecret() throws {
        let secretText = String(repeating: "secret-", count: 6)
        var settings = ServeSettings()
        settings.secretKeyBase = try SecretKeyBase(secretText)
        #expect(!"\(settings)".contains(secretText))
        #expect(!String(reflecting: settings).contains(secretText))
    }

    @Test func valueParsersRefuseOrAcceptAnyText() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...12, using: &generator)).map { _ in UInt8.random(in: 0x20...0x7e, using: &generator) }
            let text = String(decoding: bytes, as: UTF8.self)
            if let size = SettingText.byteSize(text) { #expect(size >= 0) }
            if let duration = SettingText.duration(text) { #expect(duration >= .zero) }
        }
        #expect(SettingText.byteSize("64KiB") == 65_536)
        #expect(SettingText.duration("1.5h") == .seconds(5_400))
    }
}
