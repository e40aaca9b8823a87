/// SplitMix64: a tiny, fast, deterministic pseudo-random generator. The same
/// seed gives the same sequence on every machine, so a fuzz run is
/// reproducible from its seed alone.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (`bound` > 0). The modulo bias is irrelevant here.
    mutating func below(_ bound: Int) -> Int {
        Int(self.next() % UInt64(bound))
    }

    /// `true` once in `n` times on average.
    mutating func oneIn(_ n: Int) -> Bool {
        self.below(n) == 0
    }
}

/// Byte-level mutations of seed inputs, in the spirit of libFuzzer's and
/// AFL's: bit flips, byte inserts, deletes and replacements biased toward
/// bytes that matter to JSON, UTF-8 and the binary frame layout, tokens,
/// chunk duplication, splicing with another seed, and truncation.
struct FuzzMutator {
    /// Bytes that change how JSON, UTF-8 or a binary frame header is read.
    static let interestingBytes: [UInt8] = Array("\"\\[]{},:-+eE.0123456789nt u".utf8) + [
        0x00, 0x01, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFE, 0xFF,
    ]

    /// Multi-byte fragments that a byte-at-a-time mutation rarely builds.
    static let tokens: [[UInt8]] = [
        "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u0000", "\\\"", "null", "true", "false",
        "1e999", "-0", "9223372036854775808", "-9223372036854775809", "0.0e-400", "[[[[[[[[", "]]]]",
        "{\"a\":", "\"\":", ",null", "\u{1F600}", "\u{E9}", "phx_join", "heartbeat",
    ].map { Array($0.utf8) }

    /// Inputs never grow past this many bytes, so a run's cost stays bounded.
    static let maxLength = 4 * 1024

    var random: SplitMix64

    init(seed: UInt64) {
        self.random = SplitMix64(seed: seed)
    }

    /// `input` after one mutation, or two to four stacked ones a quarter of
    /// the time; `others` supplies the second input of a splice.
    mutating func mutate(_ input: [UInt8], others: [[UInt8]]) -> [UInt8] {
        var bytes = input
        let count = self.random.oneIn(4) ? 2 + self.random.below(3) : 1
        for _ in 0..<count {
            self.mutateOnce(&bytes, others: others)
        }
        if bytes.count > Self.maxLength {
            bytes.removeSubrange(Self.maxLength...)
        }
        return bytes
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8], others: [[UInt8]]) {
        switch self.random.below(10) {
        case 0:  // flip one bit
            guard !bytes.isEmpty else { return self.insertByte(&bytes) }
            bytes[self.random.below(bytes.count)] ^= UInt8(1) << UInt8(self.random.below(8))
        case 1:  // replace a byte with an interesting one
            guard !bytes.isEmpty else { return self.insertByte(&bytes) }
            bytes[self.random.below(bytes.count)] = self.interestingByte()
        case 2:  // replace a byte with any byte
            guard !bytes.isEmpty else { return self.insertByte(&bytes) }
            bytes[self.random.below(bytes.count)] = UInt8(truncatingIfNeeded: self.random.next())
        case 3:
            self.insertByte(&bytes)
        case 4:  // delete a short run
            guard !bytes.isEmpty else { return }
            let start = self.random.below(bytes.count)
            let length = 1 + self.random.below(min(8, bytes.count - start))
            bytes.removeSubrange(start..<(start + length))
        case 5:  // insert a token
            let token = Self.tokens[self.random.below(Self.tokens.count)]
            bytes.insert(contentsOf: token, at: self.random.below(bytes.count + 1))
        case 6:  // duplicate a chunk somewhere else (repeats nesting, elements, escapes)
            guard !bytes.isEmpty, bytes.count < Self.maxLength else { return }
            let start = self.random.below(bytes.count)
            let length = 1 + self.random.below(min(64, bytes.count - start))
            let chunk = Array(bytes[start..<(start + length)])
            let copies = self.random.oneIn(8) ? 1 + self.random.below(32) : 1
            for _ in 0..<copies {
                bytes.insert(contentsOf: chunk, at: self.random.below(bytes.count + 1))
            }
        case 7:  // splice: a prefix of this input, a suffix of another
            guard let other = others.randomElement(using: &self.random), !other.isEmpty else { return }
            let cut = self.random.below(bytes.count + 1)
            let otherCut = self.random.below(other.count)
            bytes = Array(bytes[..<cut]) + other[otherCut...]
        case 8:  // truncate
            guard !bytes.isEmpty else { return }
            bytes.removeSubrange(self.random.below(bytes.count)...)
        default:  // set a byte of a binary frame header (its kind or a length)
            guard !bytes.isEmpty else { return self.insertByte(&bytes) }
            let index = self.random.below(min(5, bytes.count))
            bytes[index] = self.random.oneIn(2) ? UInt8(self.random.below(8)) : UInt8(truncatingIfNeeded: self.random.next())
        }
    }

    private mutating func insertByte(_ bytes: inout [UInt8]) {
        bytes.insert(self.interestingByte(), at: self.random.below(bytes.count + 1))
    }

    private mutating func interestingByte() -> UInt8 {
        Self.interestingBytes[self.random.below(Self.interestingBytes.count)]
    }
}
