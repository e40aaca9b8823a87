/// A setting of `switchboard serve` as a flag, a variable or the file set
/// it: the text as written, and where.
public struct ServeSettingValue: Sendable, Hashable {
    /// The value as written (trimmed; a list joined with commas).
    public var text: String
    /// Where it was set, as messages name it: `--port`, `SWITCHBOARD_PORT`,
    /// `port in /etc/switchboard.yaml`.
    public var originName: String
    /// Where it was set; `nil` when the reader has no
    /// ``ServeSettingsOriginReporter`` to tell.
    public var origin: ServeSettingOrigin?

    public init(text: String, originName: String, origin: ServeSettingOrigin?) {
        self.text = text
        self.originName = originName
        self.origin = origin
    }
}
