/// How many connections a shed should close.
public enum ShedAmount: Sendable, Hashable {
    /// This many (or all of them, if fewer are open).
    case count(Int)
    /// This percentage of the open connections, rounded to the nearest one.
    case percent(Double)
    /// Every open connection.
    case all

    func resolve(against open: Int) -> Int {
        switch self {
        case .count(let count): min(max(0, count), open)
        case .percent(let percent): min(open, max(0, Int((Double(open) * percent / 100).rounded())))
        case .all: open
        }
    }
}
