import ArgumentParser
import Foundation
import Switchboard

/// `switchboard config`: what `serve` would run with, and a sample file.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective settings of serve, or write a sample configuration file.",
        subcommands: [ConfigPrintCommand.self, ConfigSampleCommand.self]
    )
}

/// `switchboard config print`: reads the settings as `serve` does (same
/// flags, environment and file) and prints each one with where it came
/// from; exits 1, with `serve`'s message, when one cannot be used.
struct ConfigPrintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print",
        abstract: "Print every setting serve would run with and where it came from (default, file, environment, flag); secrets masked.",
        discussion: "Takes the flags of serve. Exits 1 with serve's message when a setting cannot be used."
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let configuration = options.configuration(environment: ProcessInfo.processInfo.environment)
        let settings: ServeSettings
        do {
            settings = try await configuration.load()
        } catch {
            FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        for warning in configuration.environmentWarnings() {
            FileHandle.standardError.write(Data("Warning: \(warning)\n".utf8))
        }
        print(ConfigReport(settings: settings).text, terminator: "")
    }
}

/// `switchboard config sample`: a commented YAML file with every key at its default.
struct ConfigSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Print a commented YAML configuration file that sets every key to its default."
    )

    func run() {
        print(ConfigSample.yaml(), terminator: "")
    }
}
