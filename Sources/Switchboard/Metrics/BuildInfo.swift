/// What this build was made with, for `switchboard_build_info`.
enum BuildInfo {
    /// The Swift compiler's version, to the minor: `6.2`.
    static let swiftVersion: String = {
        #if compiler(>=6.4)
        return "6.4+"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #else
        return "older than 6.2"
        #endif
    }()

    /// The operating system and architecture: `linux-x86_64`.
    static let platform: String = {
        #if os(Linux)
        let system = "linux"
        #elseif os(macOS)
        let system = "macos"
        #else
        let system = "other"
        #endif
        #if arch(x86_64)
        let architecture = "x86_64"
        #elseif arch(arm64)
        let architecture = "arm64"
        #else
        let architecture = "other"
        #endif
        return "\(system)-\(architecture)"
    }()
}
