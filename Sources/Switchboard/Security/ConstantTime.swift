/// Comparisons whose duration does not reveal where two secrets differ.
enum ConstantTime {
    /// Whether `a` equals `b`, looking at every byte of `b` whatever the answer.
    static func equals(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        var difference = a.count ^ b.count
        for index in b.indices {
            difference |= Int(b[index] ^ (index < a.count ? a[index] : 0))
        }
        return difference == 0
    }
}
