import Configuration
import Switchboard
import Synchronization

/// Where a setting of `switchboard serve` was set, to name it in messages:
/// `--port`, `SWITCHBOARD_PORT`, or `port in /etc/switchboard.yaml`.
public enum ServeSettingOrigin: Sendable, Hashable {
    /// Command-line flags (`--port`).
    case flags
    /// Environment variables (`SWITCHBOARD_PORT`).
    case environment
    /// A YAML configuration file at this path (`port:`). A value written
    /// as YAML null (`~`, `null`) counts as not set.
    case file(path: String)

    /// How `key`, set here, is named in messages.
    public func name(of key: ServeSettingKey) -> String {
        switch self {
        case .flags: return key.flag ?? "--\(key.rawValue)"
        case .environment: return key.environmentVariable
        case .file(let path): return "\(key.rawValue) in \(path)"
        }
    }
}

/// The access reporter of the `ConfigReader` that ``ServeSettings/reader(flags:environment:file:)``
/// builds: it tells ``ServeSettings/init(reader:)`` which provider answered
/// each read (or failed it), so that messages name where a value was set.
///
/// Reads made outside ``ServeSettings/init(reader:)`` are not recorded.
public struct ServeSettingsOriginReporter: AccessReporter {
    /// The origin of each provider, by its `providerName`.
    public var origins: [String: ServeSettingOrigin]

    /// A reporter that names the providers in `origins` (keyed by `providerName`).
    public init(origins: [String: ServeSettingOrigin]) {
        self.origins = origins
    }

    /// Hands the provider that answered `event`, or failed it, to the
    /// ``ServeSettings/init(reader:)`` running in this task, if any.
    public func report(_ event: AccessEvent) {
        guard let recorder = ServeSettingsReadRecorder.current else { return }
        // A provider that fails a read ends it; the reader's get methods then
        // return nil, and only the provider results tell.
        let answered = event.providerResults.first { provider in
            switch provider.result {
            case .success(let lookup): return lookup.value != nil
            case .failure: return true
            }
        }
        var failed = event.conversionError != nil
        if case .failure? = answered?.result { failed = true }
        if case .failure = event.result { failed = true }
        recorder.record(ServeSettingsReadRecorder.Read(
            provider: answered?.providerName,
            origin: answered.flatMap { origins[$0.providerName] },
            failed: failed
        ))
    }
}

/// The last read of ``ServeSettings/init(reader:)`` as its reporter saw it;
/// bound to the task for the length of the initializer.
final class ServeSettingsReadRecorder: Sendable {
    /// One read: the provider that answered (or failed) and its origin.
    struct Read: Sendable {
        var provider: String?
        var origin: ServeSettingOrigin?
        var failed: Bool
    }

    @TaskLocal static var current: ServeSettingsReadRecorder?

    private let last = Mutex<Read?>(nil)

    func record(_ read: Read) {
        last.withLock { $0 = read }
    }

    /// The last read recorded, forgotten once taken.
    func take() -> Read? {
        last.withLock { read in
            defer { read = nil }
            return read
        }
    }
}
