/// A failed admin command, printed as `Error: <message>`.
struct AdminCommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
