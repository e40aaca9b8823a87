import Foundation
import Switchboard
import Testing
import Yams
@testable import switchboard
@testable import SwitchboardTesting

/// `switchboard config sample` and `switchboard config print`.
@Suite(.timeLimit(.minutes(2)))
struct ConfigCommandTests {
    /// A temporary YAML file holding `text`.
    private static func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The row of `key` in `config print`'s output: its value and source columns.
    private static func row(_ key: String, in output: String) -> (value: String, source: String)? {
        for line in output.split(separator: "\n") {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard columns.first == key, columns.count >= 3 else { continue }
            return (columns[1], columns[2...].joined(separator: " "))
        }
        return nil
    }

    @Test func theSampleSetsEveryKeyAndReadsBackAsTheDefaults() async throws {
        let sample = ConfigSample.yaml()
        let mapping = try #require(try Yams.compose(yaml: sample)?.mapping)
        #expect(ConfigFileKeys.paths(in: mapping).sorted() == ServeSettingKey.allCases.map(\.rawValue).sorted())

        let path = try Self.configFile(sample)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try await ServeConfiguration(configPath: path, flags: [:], environment: [:]).load()
        for key in ServeSettingKey.allCases {
            #expect(settings.values[key]?.text == key.defaultText, "\(key) reads back as its default text")
        }
        var defaults = settings
        defaults.origins = [:]
        defaults.values = [:]
        #expect(defaults == ServeSettings(), "every default the sample writes is the real default")
    }

    @Test func everyKeyOfTheSampleIsUnderItsSummaryAndItsVariable() {
        let lines = ConfigSample.yaml().split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var keys = 0
        for (index, line) in lines.enumerated() where !line.isEmpty && !line.hasPrefix("#") && !line.hasSuffix(":") {
            keys += 1
            #expect(index >= 2 && lines[index - 1].hasPrefix("# SWITCHBOARD_"), "\(line) is under its variable")
            #expect(index >= 2 && lines[index - 2].hasPrefix("# ") && lines[index - 2].count > 12, "\(line) is under its summary")
        }
        #expect(keys == ServeSettingKey.allCases.count)
    }

    @Test func configSamplePrintsTheSampleAndServeAcceptsIt() async throws {
        let result = try await SwitchboardProcess.run(["config", "sample"])
        #expect(result.status == 0)
        #expect(result.stdout == ConfigSample.yaml())
        let path = try Self.configFile(result.stdout)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let printed = try await SwitchboardProcess.run(["config", "print", "--config", path])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(Self.row("port", in: printed.stdout)?.source == "file \(path)")
        #expect(Self.row("node_name", in: printed.stdout)?.source == "default")
    }

    @Test func configPrintNamesEachSourceAndMasksSecrets() async throws {
        let path = try Self.configFile("""
            node_name: from-file
            api_key: api-key-from-the-file
            port: 4999
            limits:
              max_frame_size: 64KiB
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let adminToken = "admin-token-from-the-environment"
        let result = try await SwitchboardProcess.run(
            ["config", "print", "--config", path, "--port", "4001"],
            environment: ["SWITCHBOARD_ADMIN_TOKEN": adminToken, "SWITCHBOARD_LOG_LEVEL": "debug"]
        )
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout
        #expect(Self.row("port", in: output)! == ("4001", "flag --port"))
        #expect(Self.row("log_level", in: output)! == ("debug", "environment SWITCHBOARD_LOG_LEVEL"))
        #expect(Self.row("node_name", in: output)! == ("from-file", "file \(path)"))
        #expect(Self.row("limits.max_frame_size", in: output)! == ("64KiB", "file \(path)"))
        #expect(Self.row("host", in: output)! == ("127.0.0.1", "default"))
        #expect(Self.row("secret_key_base", in: output)! == ("~", "default"))
        #expect(Self.row("api_key", in: output)! == (ConfigReport.masked, "file \(path)"))
        #expect(Self.row("admin.token", in: output)! == (ConfigReport.masked, "environment SWITCHBOARD_ADMIN_TOKEN"))
        #expect(!output.contains("api-key-from-the-file") && !output.contains(adminToken), "secrets are masked")
        for key in ServeSettingKey.allCases {
            #expect(Self.row(key.rawValue, in: output) != nil, "\(key) is printed")
        }
    }

    @Test func configPrintStopsOnASettingServeWouldRefuse() async throws {
        let result = try await SwitchboardProcess.run(["config", "print", "--port", "-1"])
        #expect(result.status == 1)
        #expect(result.stderr == #"Error: invalid value "-1" for port (from --port): expected a whole number from 0 to 65535"# + "\n")
        #expect(result.stdout == "")
    }
}
