import Foundation

/// The version of this build of Switchboard.
///
/// A release (`deploy/release`) ships a `VERSION` file next to the `bin`
/// folder that holds the executable (`<release>/VERSION` beside
/// `<release>/bin/switchboard`). When that file exists and holds a plausible
/// version, it is the version: `switchboard --version`, `/healthz` and the
/// admin API's `/stats` report it, whatever the environment. Otherwise (a
/// development build run from `.build`) the version is ``builtIn``.
public enum SwitchboardVersion {
    /// The version compiled in, reported when no release `VERSION` file is found.
    public static let builtIn = "0.1.0"

    /// The version of the running executable: its release's `VERSION` file, or ``builtIn``.
    public static let current: String = resolve(executablePath: runningExecutablePath())

    /// The version for an executable at `executablePath`: the first line of
    /// `<executable's folder>/../VERSION`, trimmed, when it is 1 to 64
    /// characters among letters, digits and `.` `_` `+` `-`; ``builtIn``
    /// otherwise.
    public static func resolve(executablePath: String?) -> String {
        guard let executablePath, !executablePath.isEmpty else { return builtIn }
        let versionFile = URL(fileURLWithPath: executablePath)
            .deletingLastPathComponent()  // bin/
            .deletingLastPathComponent()  // the release folder
            .appendingPathComponent("VERSION")
        guard let contents = try? String(contentsOf: versionFile, encoding: .utf8),
              let line = contents.split(whereSeparator: \.isNewline).first
        else { return builtIn }
        let version = line.trimmingCharacters(in: .whitespaces)
        return isPlausible(version) ? version : builtIn
    }

    private static func isPlausible(_ version: String) -> Bool {
        guard (1...64).contains(version.count) else { return false }
        return version.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._+-".unicodeScalars.contains(scalar))
        }
    }

    /// The real path of the running executable, symbolic links resolved.
    private static func runningExecutablePath() -> String? {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return path
        }
        #endif
        return Bundle.main.executableURL?.resolvingSymlinksInPath().path
    }
}
