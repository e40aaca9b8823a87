import Foundation
import Switchboard
import Testing
@testable import SwitchboardTesting

/// What library users and operators read first: the licence, the changelog,
/// the README's version numbers and the command line's help.
@Suite struct ProjectFilesTests {
    private static var version: String {
        get throws { try DeployFiles.text("VERSION").trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    @Test func theLicenceIsApache2() throws {
        let licence = try DeployFiles.text("LICENSE")
        #expect(licence.contains("Apache License"))
        #expect(licence.contains("Version 2.0, January 2004"))
    }

    @Test func theChangelogHasASectionForTheVersion() throws {
        let headings = try DeployFiles.text("CHANGELOG.md").split(separator: "\n").filter { $0.hasPrefix("## ") }
        #expect(headings.contains("## \(try Self.version)"), "CHANGELOG.md has a section for VERSION: \(headings)")
    }

    @Test func theReadmeNamesTheVersionInItsPackageLineAndExamples() throws {
        let readme = try DeployFiles.text("README.md")
        let version = try Self.version
        let packageLines = readme.split(separator: "\n").filter { $0.contains(".package(url:") && $0.contains("switchboard") }
        #expect(!packageLines.isEmpty, "the README shows the .package line")
        for line in packageLines {
            #expect(line.contains(#"from: "\#(version)")"#), "\(line) names VERSION (\(version))")
        }
        // The cluster view example: `# node-a  0.1.0    serving …`.
        let nodes = readme.split(separator: "\n").filter { $0.hasPrefix("# node-") }
        #expect(nodes.count >= 3)
        for line in nodes {
            #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first.map(String.init) == version, "\(line)")
        }
    }

    @Test(arguments: [
        ["serve"], ["config", "print"], ["config", "sample"], ["token", "sign"], ["token", "verify"],
        ["admin", "stats"], ["admin", "shed"], ["admin", "drain"], ["admin", "rebalance"],
    ])
    func helpStatesEachDefaultOnce(command: [String]) async throws {
        let result = try await SwitchboardProcess.run(command + ["--help"])
        #expect(result.status == 0)
        let text = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(!text.isEmpty)
        // ArgumentParser adds "(default: x)" after a default value; help text must not say it too.
        #expect(text.range(of: #"\(default [^)]*\)\.? \(default: "#, options: .regularExpression) == nil, "\(command): \(text)")
    }
}
