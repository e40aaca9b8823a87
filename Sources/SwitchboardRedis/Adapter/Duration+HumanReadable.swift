extension Duration {
    /// `1.25 s`, `80 ms`.
    var humanReadable: String {
        let milliseconds = Double(components.seconds) * 1_000 + Double(components.attoseconds) / 1e15
        if milliseconds < 1_000 {
            return "\(Int(milliseconds.rounded())) ms"
        }
        return "\((milliseconds / 10).rounded() / 100) s"
    }
}
