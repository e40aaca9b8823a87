import Foundation
import Switchboard

#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium (Debian's `chromium` package) showing one page, driven
/// through the DevTools protocol, for tests that check a page in a real
/// browser: run script in it, wait for a condition, resize it, take a
/// screenshot.
///
/// It starts with a fresh profile on a free loopback debugging port and
/// talks to the page's DevTools WebSocket with ``RawWebSocket``, one
/// command at a time (the protocol's events are read and dropped). Every
/// wait is bounded. ``close()`` ends the browser's process group (the
/// browser and the helper processes it started) and removes the profile.
///
/// Use it from one task at a time (commands are numbered and answered in
/// turn); that is what makes the unchecked `Sendable` sound.
package final class HeadlessChromium: @unchecked Sendable {
    /// Where the browser is installed (`apt-get install chromium`); the
    /// binary itself, not Debian's launcher script.
    package static let executable = "/usr/lib/chromium/chromium"

    /// Why the browser could not be driven.
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        init(_ description: String) { self.description = description }
    }

    private let process: ChildProcess
    private let profile: String
    private let socket: RawWebSocket
    private var nextID = 0
    /// The browser's own messages, for a failure's story.
    package let logPath: String

    private init(process: ChildProcess, profile: String, logPath: String, socket: RawWebSocket) {
        self.process = process
        self.profile = profile
        self.logPath = logPath
        self.socket = socket
    }

    deinit {
        close()
    }

    /// Whether the browser is installed here.
    package static var isInstalled: Bool {
        access(executable, X_OK) == 0
    }

    /// Starts the browser on `url` in a `width` × `height` window and
    /// connects to its page; gives up after `timeout`.
    package static func launch(url: String, width: Int = 1280, height: Int = 900, timeout: Duration = .seconds(60)) async throws -> HeadlessChromium {
        guard isInstalled else { throw Failure("\(executable) is missing: apt-get install chromium") }
        guard let port = LoopbackPort.free() else { throw Failure("no free loopback port for the debugging protocol") }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
        let logPath = profile + ".log"
        let arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=\(width),\(height)",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=\(port)", "--user-data-dir=\(profile)", url,
        ]
        let process = try ChildProcess(
            executable: executable, arguments: arguments, standardInput: .nullDevice, standardOutput: .file(logPath), standardError: .file(logPath)
        )
        do {
            let deadline = ContinuousClock.now + timeout
            let socketPath = try await pagePath(port: port, deadline: deadline, process: process, logPath: logPath)
            let socket = try await RawWebSocket.connect(port: port, path: socketPath)
            return HeadlessChromium(process: process, profile: profile, logPath: logPath, socket: socket)
        } catch {
            stop(process)
            try? FileManager.default.removeItem(atPath: profile)
            throw error
        }
    }

    /// The path of the page target's DevTools WebSocket, once the browser answers.
    private static func pagePath(port: Int, deadline: ContinuousClock.Instant, process: ChildProcess, logPath: String) async throws -> String {
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure("chromium exited at start: \(String(decoding: FileManager.default.contents(atPath: logPath) ?? Data(), as: UTF8.self))")
            }
            if let list = try? await PlainHTTP.request(port: port, path: "/json/list"), list.status == 200,
               let targets = try? JSONValue(parsing: list.body).arrayValue,
               let page = targets.first(where: { $0["type"]?.stringValue == "page" }),
               let address = page["webSocketDebuggerUrl"]?.stringValue,
               let range = address.range(of: "/devtools/") {
                return String(address[range.lowerBound...])
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure("chromium did not open its debugging port \(port) in time")
    }

    /// Sends one DevTools command and returns its `result`; throws on a
    /// protocol error or when no answer comes within `timeout`.
    @discardableResult
    package func send(_ method: String, _ parameters: JSONObject = [:], timeout: Duration = .seconds(30)) async throws -> JSONValue {
        nextID += 1
        let id = nextID
        let command: JSONValue = ["id": .int(id), "method": .string(method), "params": .object(parameters)]
        try await socket.send(command.jsonString)
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = try await receiveMessage(deadline: deadline, waitingFor: method)
            guard let message = try? JSONValue(parsing: text), message["id"]?.intValue == id else { continue } // an event
            if let error = message["error"] { throw Failure("\(method) failed: \(error.jsonString)") }
            return message["result"] ?? .object([:])
        }
    }

    /// One whole message of the DevTools socket (fragments joined), waiting
    /// past the socket's 5 s read timeout until `deadline`.
    private func receiveMessage(deadline: ContinuousClock.Instant, waitingFor method: String) async throws -> String {
        var payload: [UInt8] = []
        while true {
            let frame: (firstByte: UInt8, payload: [UInt8])
            do {
                frame = try await socket.receiveRaw()
            } catch let error as RawTCPError where error.description.contains("timed out") && ContinuousClock.now < deadline {
                continue
            } catch {
                throw Failure("no answer to \(method): \(error)")
            }
            switch frame.firstByte & 0x0F {
            case 0x0, 0x1, 0x2: payload += frame.payload
            case 0x8: throw Failure("chromium closed the DevTools socket")
            default: continue // ping, pong
            }
            if frame.firstByte & 0x80 != 0 { return String(decoding: payload, as: UTF8.self) }
        }
    }

    /// The value of `expression` evaluated in the page (awaited when it is
    /// a promise); throws when it throws.
    @discardableResult
    package func evaluate(_ expression: String) async throws -> JSONValue {
        let result = try await send("Runtime.evaluate", [
            "expression": .string(expression), "returnByValue": true, "awaitPromise": true,
        ])
        if let exception = result["exceptionDetails"] {
            throw Failure("the page threw evaluating \(expression): \(exception.jsonString)")
        }
        return result["result"]?["value"] ?? .null
    }

    /// Waits until `expression` is `true` in the page, checking every 100 ms
    /// (an expression that throws, on a page still loading, is not true
    /// yet); throws with `what` and the last answer after `timeout`.
    package func waitUntil(_ what: String, _ expression: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "nothing"
        while ContinuousClock.now < deadline {
            do {
                let value = try await evaluate(expression)
                if value == .bool(true) { return }
                last = value.jsonString
            } catch let failure as Failure {
                last = failure.description
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure("waited \(timeout) for \(what); last answer: \(last)")
    }

    /// Shows the page as a phone (or a desktop when `mobile` is false) of `width` × `height` CSS pixels.
    package func setViewport(width: Int, height: Int, mobile: Bool) async throws {
        try await send("Emulation.setDeviceMetricsOverride", [
            "width": .int(width), "height": .int(height), "deviceScaleFactor": 1, "mobile": .bool(mobile),
        ])
    }

    /// A PNG of the page as it shows now (the whole page when `fullPage`).
    package func screenshot(fullPage: Bool = false) async throws -> Data {
        var parameters: JSONObject = ["format": "png"]
        if fullPage { parameters["captureBeyondViewport"] = true }
        if fullPage {
            let metrics = try await send("Page.getLayoutMetrics")
            if let size = metrics["cssContentSize"], let width = size["width"]?.doubleValue, let height = size["height"]?.doubleValue {
                parameters["clip"] = ["x": 0, "y": 0, "width": .double(width), "height": .double(height), "scale": 1]
            }
        }
        let result = try await send("Page.captureScreenshot", parameters, timeout: .seconds(60))
        guard let base64 = result["data"]?.stringValue, let png = Data(base64Encoded: base64) else {
            throw Failure("Page.captureScreenshot returned no image")
        }
        return png
    }

    /// Writes a screenshot to `$SWITCHBOARD_SCREENSHOTS/<name>` when that
    /// folder is set (how the pictures under `docs/` are made); does nothing otherwise.
    package func saveScreenshotIfAsked(_ name: String, fullPage: Bool = false) async throws {
        guard let folder = ProcessInfo.processInfo.environment["SWITCHBOARD_SCREENSHOTS"], !folder.isEmpty else { return }
        let png = try await screenshot(fullPage: fullPage)
        try png.write(to: URL(fileURLWithPath: folder).appendingPathComponent(name))
    }

    /// Ends the browser and removes its profile.
    package func close() {
        socket.close()
        Self.stop(process)
        try? FileManager.default.removeItem(atPath: profile)
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// SIGTERM to the browser's process group (its own: the browser and its
    /// helpers), SIGKILL after 5 s if it is still there.
    private static func stop(_ process: ChildProcess) {
        guard process.isRunning else { return }
        _ = Glibc.kill(-process.pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline {
            usleep(50_000)
        }
        _ = Glibc.kill(-process.pid, SIGKILL)
        process.waitUntilExit()
    }
}
