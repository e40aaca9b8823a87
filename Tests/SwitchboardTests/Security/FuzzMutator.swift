import SwitchboardTesting

/// Mutates byte strings the way a fuzzer does: bit flips, interesting bytes,
/// insertions, deletions, duplicated and spliced chunks, truncation, deep
/// nesting and long runs, each applied one to four times.
struct FuzzMutator {
    var generator: SeededGenerator
    let corpus: [[UInt8]]

    /// Bytes that matter to JSON and to the binary frame layout.
    private static let interesting: [UInt8] = Array(#"[]{}",:\-+.0123456789eEtfnu"#.utf8) + [0x00, 0x01, 0x02, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xED, 0xF4, 0xFF]

    init(seed: UInt64, corpus: [[UInt8]]) {
        generator = SeededGenerator(seed: seed)
        self.corpus = corpus
    }

    /// A mutated copy of a random corpus entry.
    mutating func next() -> [UInt8] {
        var bytes = corpus.randomElement(using: &generator)!
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            mutate(&bytes)
        }
        return bytes
    }

    private mutating func position(in bytes: [UInt8], end: Bool = false) -> Int {
        Int.random(in: 0...(end ? bytes.count : max(0, bytes.count - 1)), using: &generator)
    }

    private mutating func mutate(_ bytes: inout [UInt8]) {
        switch Int.random(in: 0..<11, using: &generator) {
        case 0 where !bytes.isEmpty:
            bytes[position(in: bytes)] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
        case 1 where !bytes.isEmpty:
            bytes[position(in: bytes)] = Self.interesting.randomElement(using: &generator)!
        case 2:
            bytes.insert(Self.interesting.randomElement(using: &generator)!, at: position(in: bytes, end: true))
        case 3 where !bytes.isEmpty:
            bytes.remove(at: position(in: bytes))
        case 4 where !bytes.isEmpty:
            let start = position(in: bytes)
            let end = min(bytes.count, start + Int.random(in: 1...16, using: &generator))
            bytes.insert(contentsOf: bytes[start..<end], at: position(in: bytes, end: true))
        case 5 where !bytes.isEmpty:
            let start = position(in: bytes)
            bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...16, using: &generator)))
        case 6:
            bytes = Array(bytes.prefix(position(in: bytes, end: true)))
        case 7:
            let other = corpus.randomElement(using: &generator)!
            let cut = position(in: bytes, end: true)
            bytes = Array(bytes[..<cut]) + Array(other[position(in: other, end: true)...])
        case 8:
            let depth = Int.random(in: 1...80, using: &generator)
            let opener: [UInt8] = Bool.random(using: &generator) ? Array("[".utf8) : Array(#"{"a":"#.utf8)
            bytes.insert(contentsOf: Array([[UInt8]](repeating: opener, count: depth).joined()), at: position(in: bytes, end: true))
        case 9:
            let run = [UInt8](repeating: Self.interesting.randomElement(using: &generator)!, count: Int.random(in: 1...600, using: &generator))
            bytes.insert(contentsOf: run, at: position(in: bytes, end: true))
        default:
            bytes.append(UInt8.random(in: 0...255, using: &generator))
        }
    }
}
