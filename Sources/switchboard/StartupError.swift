/// A reason `switchboard` cannot start, as one line for the terminal.
struct StartupError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
