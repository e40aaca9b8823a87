import Yams

/// What is wrong with text that is not YAML, in one line: where, what, and
/// what the parser was in the middle of (`line 2, column 1: did not find
/// expected ',' or ']' (while parsing a flow sequence from line 1, column 7)`).
///
/// Yams' own description spans lines, the first of which ends in a colon
/// that introduces a snippet of the file.
enum YAMLSyntaxProblem {
    /// The problem with `text`, or `nil` when Yams reads it.
    static func describe(_ text: String) -> String? {
        do {
            _ = try Yams.compose(yaml: text)
            return nil
        } catch let error as YamlError {
            return describe(error)
        } catch {
            return firstLine(of: "\(error)")
        }
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            var line = "line \(mark.line), column \(mark.column): \(problem)"
            if let context {
                line += " (\(context.text) from line \(context.mark.line), column \(context.mark.column))"
            }
            return line
        default:
            return firstLine(of: error.description)
        }
    }

    /// The first line of `text`, without the colon that would introduce the next.
    private static func firstLine(of text: String) -> String {
        var line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        while line.hasSuffix(":") { line.removeLast() }
        return line
    }
}
