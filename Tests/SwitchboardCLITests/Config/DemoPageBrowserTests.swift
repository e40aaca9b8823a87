import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The demo page of `switchboard serve --auth none` in headless Chromium on
/// a 390 px phone: it fits, names the node it reached, has an icon, and
/// says so (keeping the message) when it cannot send.
///
/// `SWITCHBOARD_SCREENSHOTS=<folder>` also saves `demo-390.png` and
/// `demo-390-disconnected.png`.
@Suite("Demo page in a browser", .timeLimit(.minutes(3)))
struct DemoPageBrowserTests {
    @Test func fitsAPhoneNamesItsNodeAndSaysWhenAMessageCannotBeSent() async throws {
        let server = try SwitchboardProcess(
            ["serve", "--auth", "none", "--port", "0", "--node", "demo-1"], environment: ["SWITCHBOARD_PRESENCE": "true"]
        )
        let port = try await server.listeningPort()
        let icon = try await PlainHTTP.request(port: port, path: "/favicon.ico")
        #expect(icon.status == 200)
        #expect(icon.head.lowercased().contains("content-type: image/svg+xml"))
        #expect(icon.body.hasPrefix("<svg"))

        let browser = try await HeadlessChromium.launch(url: "http://127.0.0.1:\(port)/", width: 390, height: 844)
        defer { browser.close() }
        try await browser.setViewport(width: 390, height: 844, mobile: true)
        try await browser.waitUntil("the status to name the node", "document.getElementById('status').textContent === 'connected to demo-1'")
        let widths = try await browser.evaluate("[innerWidth, document.documentElement.scrollWidth]")
        #expect(widths == [390, 390], "the page's width and what it scrolls over, at 390 px")
        // The form is usable: every control inside the screen, the message box wide enough to type in.
        let layout = try await browser.evaluate("""
            ['name', 'body'].map((id) => document.getElementById(id).getBoundingClientRect())
              .concat([document.querySelector('form button').getBoundingClientRect()])
              .every((box) => box.left >= 0 && box.right <= 390 && box.width >= 60)
              && document.getElementById('body').getBoundingClientRect().width >= 200
            """)
        #expect(layout == .bool(true))
        #expect(try await browser.evaluate("fetch('/favicon.ico').then((response) => response.status)") == .int(200))

        try await browser.evaluate(Self.shout("hello from a phone"))
        try await browser.waitUntil("the shout to come back", "document.getElementById('log').innerText.includes('hello from a phone')")
        try await browser.waitUntil("the online list", "document.getElementById('people').innerText.includes('demo-1')")
        try await browser.saveScreenshotIfAsked("demo-390.png")

        // The server goes away: a message typed now is refused in words and kept.
        server.kill()
        try await browser.waitUntil("the status to say disconnected", "document.getElementById('status').textContent.startsWith('disconnected')")
        try await browser.evaluate(Self.shout("anyone there?"))
        try await browser.waitUntil("the notice", """
            !document.getElementById('notice').hidden
              && document.getElementById('notice').textContent.includes('Not sent: disconnected')
              && document.getElementById('body').value === 'anyone there?'
            """)
        try await browser.saveScreenshotIfAsked("demo-390-disconnected.png")
    }

    /// Script that types `text` in the message box and submits the form.
    static func shout(_ text: String) -> String {
        "document.getElementById('body').value = \(JSONValue.string(text).jsonString); document.getElementById('form').requestSubmit(); true"
    }
}
