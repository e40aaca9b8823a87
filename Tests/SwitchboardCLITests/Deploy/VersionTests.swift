import Foundation
import Testing
@testable import Switchboard

@Suite("Release version")
struct VersionTests {
    /// A release folder `<tmp>/bin/switchboard` with `<tmp>/VERSION` holding `contents` (none when nil).
    private func releaseFolder(version contents: String?) throws -> (folder: URL, executable: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-version-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("bin"), withIntermediateDirectories: true)
        if let contents {
            try contents.write(to: folder.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        }
        return (folder, folder.appendingPathComponent("bin/switchboard").path)
    }

    @Test("a release's VERSION file next to bin/ is the version")
    func releaseVersionFile() throws {
        let (folder, executable) = try releaseFolder(version: "1.2.3-rc.1+abc\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(SwitchboardVersion.resolve(executablePath: executable) == "1.2.3-rc.1+abc")
    }

    @Test("git describe output is accepted", arguments: ["v0.1.0-3-g1a2b3c4-dirty", "1a2b3c4"])
    func gitDescribe(version: String) throws {
        let (folder, executable) = try releaseFolder(version: "  \(version)  \nextra line\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(SwitchboardVersion.resolve(executablePath: executable) == version)
    }

    @Test("without a plausible VERSION file the built-in version is reported", arguments: [nil, "", "\n", "has space", String(repeating: "9", count: 65), "1.0;rm"])
    func fallback(contents: String?) throws {
        let (folder, executable) = try releaseFolder(version: contents)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(SwitchboardVersion.resolve(executablePath: executable) == SwitchboardVersion.builtIn)
        #expect(SwitchboardVersion.resolve(executablePath: nil) == SwitchboardVersion.builtIn)
    }

    @Test("the VERSION file at the package root matches the built-in version")
    func rootVersionFile() throws {
        let version = try DeployFiles.text("VERSION").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version == SwitchboardVersion.builtIn, "bump SwitchboardVersion.builtIn together with VERSION")
    }
}
