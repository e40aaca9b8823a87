import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The admin dashboard in headless Chromium against three nodes on Redis:
/// the page asks for the token, shows every node, and a drain confirmed on
/// the page turns the node's `/readyz` to 503 (a cancelled one does not).
///
/// `SWITCHBOARD_SCREENSHOTS=<folder>` also saves what the page looks like
/// (`docs/admin-dashboard.png`, `docs/admin-dashboard-390.png`).
@Suite("Admin dashboard in a browser", .timeLimit(.minutes(4)))
struct DashboardBrowserTests {
    static let token = "dashboard-test-token"

    @Test func aDrainConfirmedOnThePageTurnsReadinessTo503() async throws {
        try await TestCluster.with(nodes: 3, configureServer: { configuration in
            configuration.admin.port = 0
            configuration.admin.token = Self.token
            configuration.clusterReportInterval = .milliseconds(500)
        }) { cluster in
            let served = cluster.servers[0]
            // Some connections to count: WebSockets on every node, a long-poll on the last.
            var clients = [try await cluster.joined(0, "room:a").0, try await cluster.joined(0, "room:b").0, try await cluster.joined(1, "room:a").0]
            clients.append(try await cluster.joined(2, "room:c").0)
            let longPoll = try await RawLongPoll.open(port: cluster.servers[2].localPort!)
            // Polled, so the session outlives its 10 s window on a slow machine.
            let polling = Task {
                while !Task.isCancelled { _ = try? await longPoll.poll() }
            }
            defer { polling.cancel() }

            let url = "http://127.0.0.1:\(try #require(served.adminPort))/dashboard"
            let browser = try await HeadlessChromium.launch(url: url, width: 1280, height: 1000)
            defer { browser.close() }

            try await browser.waitUntil("the token form", "document.readyState === 'complete' && !document.getElementById('signin').hidden")
            // A wrong token is refused and asked for again.
            try await browser.evaluate(Self.signIn("wrong-token"))
            try await browser.waitUntil("the refusal of a wrong token",
                                        "document.getElementById('signin-error').textContent.includes('refused') && !sessionStorage.getItem('switchboard:admin-token')")
            try await browser.evaluate(Self.signIn(Self.token))
            try await browser.waitUntil("three nodes listed, with their counts", """
                (() => {
                  const rows = [...document.querySelectorAll('#nodes tbody tr[data-node]')];
                  return rows.length === 3 && rows.map((row) => row.dataset.node).join() === 'node-a,node-b,node-c'
                    && document.getElementById('total-connections').textContent === '5'
                    && document.getElementById('total-longpoll').textContent === '1'
                    && document.getElementById('live').className === 'up';
                })()
                """)
            // The token stays out of the URL; the page keeps it in this tab.
            #expect(try await browser.evaluate("location.href") == .string(url))
            #expect(try await browser.evaluate("sessionStorage.getItem('switchboard:admin-token')") == .string(Self.token))
            let nodeA = try await browser.evaluate("document.querySelector('tr[data-node=\"node-a\"]').innerText")
            #expect(nodeA.stringValue?.contains("this node") == true)
            #expect(nodeA.stringValue?.contains("serving") == true)

            // Cancelling the confirmation does nothing.
            try await browser.evaluate("document.getElementById('drain-button').click(); true")
            try await browser.waitUntil("the confirmation", "document.getElementById('confirm').open")
            #expect(try await browser.evaluate("document.getElementById('confirm-title').textContent") == "Drain node-a?")
            try await browser.evaluate("document.getElementById('confirm-cancel').click(); true")
            try await browser.waitUntil("the confirmation to close", "!document.getElementById('confirm').open")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await PlainHTTP.request(port: served.localPort!, path: "/readyz").status == 200)

            // Confirmed: node-a drains, the others stay ready, the page shows it.
            try await browser.evaluate("document.getElementById('drain-button').click(); true")
            try await browser.waitUntil("the confirmation", "document.getElementById('confirm').open")
            try await browser.evaluate("document.getElementById('confirm-ok').click(); true")
            let drained = await eventually(timeout: .seconds(10)) {
                (try? await PlainHTTP.request(port: served.localPort!, path: "/readyz").status) == 503
            }
            #expect(drained, "/readyz of the drained node")
            for other in cluster.servers.dropFirst() {
                #expect(try await PlainHTTP.request(port: other.localPort!, path: "/readyz").status == 200)
            }
            try await browser.waitUntil("node-a shown draining, the drain logged", """
                /drain/.test(document.querySelector('tr[data-node="node-a"]').innerText)
                  && document.getElementById('activity').innerText.includes('Drain of node-a started')
                  && document.getElementById('undrain-button').disabled === false
                """)
            try await browser.saveScreenshotIfAsked("admin-dashboard.png", fullPage: true)

            // Readable on a phone: nothing wider than 390 px.
            try await browser.setViewport(width: 390, height: 844, mobile: true)
            try await browser.waitUntil("no horizontal scrolling at 390 px", "document.documentElement.scrollWidth <= 390")
            try await browser.saveScreenshotIfAsked("admin-dashboard-390.png")

            for client in clients { await client.disconnect() }
        }
    }

    /// Script that types `token` into the form and submits it.
    static func signIn(_ token: String) -> String {
        "document.getElementById('token').value = \(JSONValue.string(token).jsonString); document.getElementById('token-form').requestSubmit(); true"
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    func eventually(timeout: Duration, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await condition()
    }
}
