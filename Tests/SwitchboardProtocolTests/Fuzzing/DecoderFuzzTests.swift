import Foundation
import NIOCore
import Testing

@testable import SwitchboardProtocol

/// A bounded, deterministic mutation fuzz of everything the server decodes
/// from a client: V1 text, V2 text and V2 binary frames through
/// `decodeClientFrame` with the server's default limits, and
/// `JSONValue.parse` with the same depth limit.
///
/// The inputs are the seed corpus in `Fuzz/corpus/` (shared with the
/// coverage-guided target in `Fuzz/`) and a fixed number of mutations of it
/// drawn from a fixed-seed generator, so every run on every machine decodes
/// the same inputs. A crash fails the run; to find the input that caused it,
/// run again with `SWITCHBOARD_FUZZ_LOG=<file>`, which holds each input
/// before it is decoded (slow), or feed the corpus to `scripts/fuzz`.
@Suite("Decoders under mutated input")
struct DecoderFuzzTests {
    /// Mutated inputs per run (`SWITCHBOARD_FUZZ_ITERATIONS` overrides it
    /// for a longer local run). Each goes through every decoder.
    static let iterations = ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 120_000
    static let seed: UInt64 = 0x5357_4254_4652_5A31

    @Test func mutatedFramesDecodeOrThrowProtocolError() throws {
        let corpus = try FuzzCorpus.load()
        #expect(corpus.count >= 30, "the seed corpus in Fuzz/corpus/ is missing files")
        for target in FuzzCorpus.Target.allCases where target != .any {
            #expect(corpus.contains { $0.target == target }, "no seed for \(target)")
        }
        let seedBytes = corpus.map(\.bytes)
        var checker = DecoderChecker()
        let start = ContinuousClock.now

        for entry in corpus {
            checker.check(entry.bytes, target: entry.target)
        }
        var mutator = FuzzMutator(seed: Self.seed)
        for index in 0..<Self.iterations {
            let entry = corpus[index % corpus.count]
            checker.check(mutator.mutate(entry.bytes, others: seedBytes), target: entry.target)
        }

        let elapsed = ContinuousClock.now - start
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        print("decoder fuzz (seed \(Self.seed)): \(checker.summary), in \(milliseconds) ms")
        #expect(checker.failures == 0, "\(checker.failures) inputs broke an invariant; the first ones are recorded above")
        // The mutations must reach past the first checks, or the run proves little.
        #expect(checker.ownDecoded * 20 > checker.inputs, "fewer than 5% of the inputs decoded: the mutations are too destructive")
    }

    /// Every seed decodes or is rejected as its name says: `-nasty-` seeds
    /// are meant to be rejected, the others to decode.
    @Test func seedsDecodeAsNamed() throws {
        for entry in try FuzzCorpus.load() {
            var checker = DecoderChecker()
            checker.check(entry.bytes, target: entry.target)
            #expect(checker.failures == 0, "\(entry.name)")
            if entry.target != .any {
                #expect((checker.ownDecoded == 1) == !entry.name.contains("-nasty-"), "\(entry.name)")
            }
        }
    }
}

/// The seed corpus: `Fuzz/corpus/`, each file named for the decoder it
/// targets (`v1-`, `v2-`, `bin-`, `json-`; anything else, such as the
/// hash-named files libFuzzer adds, targets no decoder in particular).
struct FuzzCorpus {
    /// The decoder a seed is written for.
    enum Target: CaseIterable {
        case v1Text, v2Text, v2Binary, json, any

        init(fileName: String) {
            if fileName.hasPrefix("v1-") {
                self = .v1Text
            } else if fileName.hasPrefix("v2-") {
                self = .v2Text
            } else if fileName.hasPrefix("bin-") {
                self = .v2Binary
            } else if fileName.hasPrefix("json-") {
                self = .json
            } else {
                self = .any
            }
        }
    }

    var name: String
    var target: Target
    var bytes: [UInt8]

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Fuzzing
        .deletingLastPathComponent()  // SwitchboardProtocolTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    /// Every file of the corpus, sorted by name (the run's order must not
    /// depend on the file system's).
    static func load() throws -> [FuzzCorpus] {
        try FileManager.default.contentsOfDirectory(atPath: self.directory.path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
            .map { name in
                let data = try Data(contentsOf: self.directory.appendingPathComponent(name))
                return FuzzCorpus(name: name, target: Target(fileName: name), bytes: Array(data))
            }
    }
}

/// Runs one input through the client-side decoders and checks the
/// invariants: each call returns or throws `ProtocolError`; what decodes
/// respects the limits and survives encoding and decoding again unchanged.
struct DecoderChecker {
    let limits = DecodingLimits.default
    let v1 = V1Serializer()
    let v2 = V2Serializer()
    /// When set (`SWITCHBOARD_FUZZ_LOG`), each input is written there before it is decoded.
    let logPath = ProcessInfo.processInfo.environment["SWITCHBOARD_FUZZ_LOG"]

    private(set) var inputs = 0
    /// Inputs that the decoder their seed targets accepted, and rejected.
    private(set) var ownDecoded = 0
    private(set) var ownRejected = 0
    /// Successful calls per decoder, over all inputs.
    private(set) var decodedV1 = 0
    private(set) var decodedV2Text = 0
    private(set) var decodedV2Binary = 0
    private(set) var parsedJSON = 0
    private(set) var failures = 0

    var summary: String {
        "\(self.inputs) inputs, \(self.ownDecoded) decoded and \(self.ownRejected) rejected by their seed's decoder; "
            + "accepted by V1 text \(self.decodedV1), V2 text \(self.decodedV2Text), V2 binary \(self.decodedV2Binary), "
            + "JSONValue.parse \(self.parsedJSON) (\(self.failures) failures)"
    }

    mutating func check(_ bytes: [UInt8], target: FuzzCorpus.Target) {
        if let logPath {
            FileManager.default.createFile(atPath: logPath, contents: Data(bytes))
        }
        self.inputs += 1
        let buffer = ByteBuffer(bytes: bytes)

        // Each input goes to the decoder its seed targets, text also to
        // JSONValue.parse; inputs without a target go everywhere.
        let everywhere = target == .any
        var v1Text = false
        var v2Text = false
        var v2Binary = false
        var json = false
        if everywhere || target == .v1Text {
            v1Text = self.decode(buffer, kind: .text, with: self.v1, input: bytes)
            if v1Text { self.decodedV1 += 1 }
        }
        if everywhere || target == .v2Text {
            v2Text = self.decode(buffer, kind: .text, with: self.v2, input: bytes)
            if v2Text { self.decodedV2Text += 1 }
        }
        if everywhere || target == .v2Binary {
            v2Binary = self.decode(buffer, kind: .binary, with: self.v2, input: bytes)
            if v2Binary { self.decodedV2Binary += 1 }
            if self.decode(buffer, kind: .binary, with: self.v1, input: bytes) {
                self.fail("V1 decoded a binary frame", input: bytes)
            }
        }
        if everywhere || target != .v2Binary {
            json = self.parseJSON(buffer, input: bytes)
            if json { self.parsedJSON += 1 }
        }

        let own: Bool
        switch target {
        case .v1Text: own = v1Text
        case .v2Text: own = v2Text
        case .v2Binary: own = v2Binary
        case .json, .any: own = json
        }
        if own { self.ownDecoded += 1 } else { self.ownRejected += 1 }
    }

    /// Decodes `buffer` as a client frame of `kind`; whether it decoded.
    private mutating func decode(_ buffer: ByteBuffer, kind: FrameKind, with serializer: some Serializer, input: [UInt8]) -> Bool {
        let name = DecoderName(serializer: serializer, kind: kind)
        let limits = self.limits
        guard let message = self.outcome(of: "\(name)", input: input, { try serializer.decodeClientFrame(buffer, kind: kind, limits: limits) }) else {
            return false
        }
        let topicLength = message.topic.utf8.count
        let eventLength = message.event.utf8.count
        if topicLength == 0 || topicLength > self.limits.maxTopicLength {
            self.fail("\(name): topic of \(topicLength) bytes", input: input)
        }
        if eventLength == 0 || eventLength > self.limits.maxEventLength {
            self.fail("\(name): event of \(eventLength) bytes", input: input)
        }
        switch message.payload {
        case .json(let payload):
            if kind != .text { self.fail("\(name): a JSON payload from a binary frame", input: input) }
            if payload.depth > self.limits.maxJSONDepth {
                self.fail("\(name): payload \(payload.depth) deep", input: input)
            }
        case .binary:
            if kind != .binary { self.fail("\(name): a binary payload from a text frame", input: input) }
        }

        var encoded = ByteBuffer()
        guard let encodedKind = self.outcome(of: "\(name) re-encoding", input: input, { try serializer.encodeClientMessage(message, into: &encoded) }) else {
            self.fail("\(name): a decoded message does not encode", input: input)
            return true
        }
        if encodedKind != kind { self.fail("\(name): re-encoded as \(encodedKind)", input: input) }
        let again = self.outcome(of: "\(name) re-decoding", input: input) { try serializer.decodeClientFrame(encoded, kind: encodedKind, limits: limits) }
        if again != message {
            self.fail("\(name): round trip gave \(again.map { "\($0)" } ?? "an error") for \(message)", input: input)
        }
        return true
    }

    /// `JSONValue.parse` with the depth limit the serializers use; whether it parsed.
    private mutating func parseJSON(_ buffer: ByteBuffer, input: [UInt8]) -> Bool {
        let maxDepth = self.limits.maxJSONDepth
        guard let value = self.outcome(of: "JSONValue.parse", input: input, { try JSONValue.parse(buffer, maxDepth: maxDepth) }) else {
            return false
        }
        if value.depth > maxDepth { self.fail("JSONValue.parse: \(value.depth) deep", input: input) }
        var encoded = ByteBuffer()
        value.encode(into: &encoded)
        let again = self.outcome(of: "JSONValue.parse of the re-encoding", input: input) { try JSONValue.parse(encoded, maxDepth: maxDepth) }
        if again != value {
            self.fail("JSONValue round trip: \(String(buffer: encoded))", input: input)
        }
        return true
    }

    /// The result of `body`; `nil` when it throws a `ProtocolError`, a
    /// failure when it throws anything else. (Untyped `throws` on purpose:
    /// the check must not rely on the decoders' signatures.)
    private mutating func outcome<T>(of name: @autoclosure () -> String, input: [UInt8], _ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch is ProtocolError {
            return nil
        } catch {
            self.fail("\(name()) threw \(type(of: error)): \(error)", input: input)
            return nil
        }
    }

    private mutating func fail(_ what: @autoclosure () -> String, input: [UInt8]) {
        self.failures += 1
        if self.failures <= 10 {
            let what = what()
            let hex = input.prefix(512).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
            Issue.record("\(what); input (\(input.count) bytes, hex): \(hex)")
        }
    }
}

/// A decoder and frame kind, named in failures only (building the name
/// for every call would dominate the run's time).
private struct DecoderName: CustomStringConvertible {
    var serializer: any Serializer
    var kind: FrameKind
    var description: String { "\(type(of: self.serializer)) \(self.kind)" }
}

extension JSONValue {
    /// How many arrays and objects enclose the innermost value (`0` for a scalar).
    var depth: Int {
        switch self {
        case .array(let elements): 1 + (elements.map(\.depth).max() ?? 0)
        case .object(let members): 1 + (members.values.map(\.depth).max() ?? 0)
        default: 0
        }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - self.count)) + self
    }
}
