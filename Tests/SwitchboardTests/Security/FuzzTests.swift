import SwitchboardTesting
import Foundation
import NIOCore
import Testing

@testable import Switchboard

/// Bounded fuzzing in the normal test run: a seeded mutator turns valid
/// frames, JSON texts, origins and tokens into hostile ones, and every
/// decoder must either throw or return something that survives a round trip
/// — never crash, hang or disagree with itself. Each target runs
/// `SWITCHBOARD_FUZZ_ITERATIONS` inputs (default 20 000) or
/// `SWITCHBOARD_FUZZ_SECONDS` (default 5), whichever comes first, from
/// `SWITCHBOARD_FUZZ_SEED` (default fixed, so a failure replays); raise them
/// for a longer campaign. The targets run one at a time and yield often, so they do not
/// starve the concurrent end-to-end tests of the cooperative thread pool.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FuzzTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F00D
    static let iterations = ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 20_000
    static let budget = Duration.seconds(ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_SECONDS"].flatMap { Int($0) } ?? 5)
    static let limits = DecodingLimits.default

    /// Feeds `iterations` mutants of `corpus` to `body`; stops early when the
    /// time budget is spent or `body` reports a failure (returns `false`).
    static func fuzz(_ target: UInt64, corpus: [String], _ body: ([UInt8]) -> Bool) async {
        await fuzz(target, corpus: corpus.map { Array($0.utf8) }, body)
    }

    static func fuzz(_ target: UInt64, corpus: [[UInt8]], _ body: ([UInt8]) -> Bool) async {
        var mutator = FuzzMutator(seed: seed &+ target, corpus: corpus)
        let deadline = ContinuousClock.now + budget
        for iteration in 0..<iterations {
            if iteration % 64 == 0 {
                guard ContinuousClock.now < deadline else { return }
                await Task.yield()
            }
            let input = mutator.next()
            guard body(input) else {
                Issue.record("seed \(seed), target \(target), iteration \(iteration): input \(input)")
                return
            }
        }
    }

    // MARK: - Corpora

    static let v2Text = [
        #"["1","1","room:lobby","phx_join",{"user":"x","n":[1,2.5,-3e2,true,false,null]}]"#,
        #"[null,"5","phoenix","heartbeat",{}]"#,
        #"["1","2","room:lobby","ping",{"x":1,"nested":{"a":[{"b":"\u00e9\ud83d\ude00\n"}]}}]"#,
        #"["1","6","room:lobby","phx_leave",{}]"#,
        #"["1","2","room:lobby","phx_reply",{"status":"ok","response":{"x":1}}]"#,
        #"[null,null,"room:lobby","event",{"big":12345678901234567890,"small":-0.0}]"#,
        #"["1",null,"user:42","event","just a string"]"#,
    ]

    static let v1Text = [
        #"{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#,
        #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}"#,
        #"{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{"x":[1,{"y":null}]}},"ref":"2","join_ref":null}"#,
        #"{"event":"shout","topic":"room:a","payload":{"body":"hi \"there\""},"ref":null}"#,
    ]

    static let binary: [[UInt8]] = [
        [0, 1, 1, 10, 4] + Array("12room:lobbyping".utf8) + [0xDE, 0xAD, 0xBE, 0xEF],
        [0, 0, 0, 1, 1] + Array("te".utf8),
        [0, 1, 10, 5] + Array("1room:lobbyevent".utf8) + [1, 2, 3],
        [1, 1, 1, 10, 2] + Array("12room:lobbyok".utf8) + [9, 9],
        [2, 10, 5] + Array("room:lobbyevent".utf8),
        [3],
        [],
    ]

    static let json = v2Text + v1Text + [
        "0", "-0", "1e308", "-1.5e-300", "\"\"", "\"\\u0000\\uD834\\uDD1E\"", "[]", "{}", "[[[[[[1]]]]]]",
        #"{"a":{"b":{"c":[1,2,{"d":"e"}]}},"a":2}"#, "true", "null", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "0.1", "[1,2,3,4,5,6,7,8,9,10]",
    ]

    // MARK: - Frame decoders and serializers

    @Test func v2TextFramesDecodeOrThrow() async {
        await Self.fuzz(1, corpus: Self.v2Text) { Self.clientRoundTrip(V2Serializer(), $0, .text) && Self.serverRoundTrip(V2Serializer(), $0, .text) }
    }

    @Test func v2BinaryFramesDecodeOrThrow() async {
        await Self.fuzz(2, corpus: Self.binary) { Self.clientRoundTrip(V2Serializer(), $0, .binary) && Self.serverRoundTrip(V2Serializer(), $0, .binary) }
    }

    @Test func v1FramesDecodeOrThrow() async {
        await Self.fuzz(3, corpus: Self.v1Text) { Self.clientRoundTrip(V1Serializer(), $0, .text) && Self.serverRoundTrip(V1Serializer(), $0, .text) }
    }

    @Test func jsonParsesOrThrows() async {
        await Self.fuzz(4, corpus: Self.json) { bytes in
            guard let value = try? JSONValue.parse(ByteBuffer(bytes: bytes), maxDepth: Self.limits.maxJSONDepth) else { return true }
            var buffer = ByteBuffer()
            value.encode(into: &buffer)
            return (try? JSONValue.parse(buffer, maxDepth: Self.limits.maxJSONDepth)) == value
        }
    }

    /// A decoded client frame re-encodes to a frame that decodes the same.
    static func clientRoundTrip(_ serializer: some Serializer, _ bytes: [UInt8], _ kind: FrameKind) -> Bool {
        guard let message = try? serializer.decodeClientFrame(ByteBuffer(bytes: bytes), kind: kind, limits: limits) else { return true }
        guard !message.topic.isEmpty, message.topic.utf8.count <= limits.maxTopicLength,
              !message.event.isEmpty, message.event.utf8.count <= limits.maxEventLength
        else { return false }
        var buffer = ByteBuffer()
        guard let encodedKind = try? serializer.encodeClientMessage(message, into: &buffer) else { return true }
        return (try? serializer.decodeClientFrame(buffer, kind: encodedKind, limits: limits)) == message
    }

    /// A decoded server frame (the client side) re-encodes to one that decodes the same.
    static func serverRoundTrip(_ serializer: some Serializer, _ bytes: [UInt8], _ kind: FrameKind) -> Bool {
        guard let frame = try? serializer.decodeServerFrame(ByteBuffer(bytes: bytes), kind: kind, limits: limits) else { return true }
        var buffer = ByteBuffer()
        guard let encodedKind = try? serializer.encodeServerFrame(frame, into: &buffer) else { return true }
        return (try? serializer.decodeServerFrame(buffer, kind: encodedKind, limits: limits)) == frame
    }

    /// Random messages (any strings, any JSON) survive encode → decode in both
    /// directions, or are refused by the encoder — the serializer half of the fuzz.
    @Test(arguments: SerializerVersion.allCases)
    func randomMessagesRoundTrip(version: SerializerVersion) async {
        var generator = SeededGenerator(seed: Self.seed &+ 5)
        let serializer = version.serializer
        let deadline = ContinuousClock.now + Self.budget
        for iteration in 0..<Self.iterations / 4 {
            if iteration % 64 == 0 {
                guard ContinuousClock.now < deadline else { return }
                await Task.yield()
            }
            let payload: Payload = version == .v2 && Bool.random(using: &generator)
                ? .binary(ByteBuffer(bytes: (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }))
                : .json(RandomJSON.value(depth: 4, using: &generator))
            let message = Message(
                joinRef: RandomJSON.optionalString(using: &generator),
                ref: RandomJSON.optionalString(using: &generator),
                topic: RandomJSON.string(nonEmpty: true, using: &generator),
                event: RandomJSON.string(nonEmpty: true, using: &generator),
                payload: payload
            )
            var buffer = ByteBuffer()
            guard let kind = try? serializer.encodeClientMessage(message, into: &buffer) else { continue }
            let decoded = try? serializer.decodeClientFrame(buffer, kind: kind, limits: DecodingLimits(maxJSONDepth: 64))
            // Binary frames cannot say `null`: an empty ref reads back as nil.
            var expected = message
            if case .binary = payload {
                expected.joinRef = message.joinRef.flatMap { $0.isEmpty ? nil : $0 }
                expected.ref = message.ref.flatMap { $0.isEmpty ? nil : $0 }
            }
            guard decoded == expected else {
                Issue.record("seed \(Self.seed), iteration \(iteration): \(message) decoded as \(String(describing: decoded))")
                return
            }
        }
    }

    // MARK: - Header and token parsers

    @Test func originsAndChecksParseOrRefuse() async {
        let corpus = [
            "https://example.com", "http://[::1]:4000", "chrome-extension://abc", "null", "//*.example.com:8080",
            "https://example.com, //b.org", "true", "conn", "example.com.evil.com", "http://a.b.c:65535",
        ]
        await Self.fuzz(6, corpus: corpus) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            if let origin = Origin(text) {
                guard Origin(origin.description) == origin else { return false }
            }
            _ = try? OriginPattern(text)
            _ = try? CheckOrigin(parsing: text)
            _ = Origin.authority(text)
            _ = TrustedProxies(parsing: text)
            _ = IPNetwork(text)
            return true
        }
    }

    @Test func queryStringsAndSubprotocolsParseOrRefuse() async {
        let corpus = [
            "vsn=2.0.0&token=abc.def.ghi&user_id=42", "a=%20b+c&%FF=1&x", "token=a&t%6Fken=b&token=%zz&&token", "phoenix, base64url.bearer.phx.YWJj",
            "base64url.bearer.phx.eyJhbGciOiJIUzI1NiJ9-_", "10m", "1.5h", "64KiB",
        ]
        await Self.fuzz(7, corpus: corpus) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let parameters = QueryString.parse(text[...])
            _ = QueryString.decode(text[...])
            // The one-parameter reader agrees with the whole parse.
            guard QueryString.value(named: "token", in: text[...]) == parameters["token"],
                  parameters.allSatisfy({ QueryString.value(named: $0.key, in: text[...]) == $0.value })
            else { return false }
            _ = AuthTokenSubprotocol.token(in: AuthTokenSubprotocol.offered(in: [text]))
            _ = Duration(settingText: text)
            return true
        }
    }

    @Test func mutatedTokensAreRefusedOrUnchanged() async throws {
        let secret = try SecretKeyBase("fuzzing-secret-fuzzing-secret-fuzzing-secret")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let signer = await TokenSigner(secretKeyBase: secret)
        let verifier = await TokenVerifier(secretKeyBase: secret, namespace: "user_socket")
        let token = try await signer.sign(subject: "42", namespace: "user_socket", now: now)
        let claims = try #require(await verifier.verify(token, now: now).claims)
        var mutator = FuzzMutator(seed: Self.seed &+ 8, corpus: [Array(token.utf8)])
        let deadline = ContinuousClock.now + Self.budget
        for iteration in 0..<Self.iterations / 10 {
            if ContinuousClock.now > deadline { break }
            let mutant = String(decoding: mutator.next(), as: UTF8.self)
            let result = await verifier.verify(mutant, now: now)
            // Base64url's last character has spare bits, so a mutant may decode
            // to the very same bytes; it must then say exactly what the original said.
            if let verified = result.claims, verified != claims {
                Issue.record("seed \(Self.seed), iteration \(iteration): mutant \(mutant) verified as \(verified)")
                return
            }
        }
    }
}
