import Crypto
import FoundationEssentials
import NIOHTTP1

/// The web dashboard of the admin listener, at `GET /` and `GET /dashboard`:
/// one self-contained HTML document (inline CSS and script, nothing loaded
/// from the network) that shows the cluster view and runs the admin API's
/// operations.
///
/// The page itself holds no data and needs no token, so a browser can open
/// it; its script asks for the admin token, keeps it in `sessionStorage`
/// (this tab only) and sends it as every admin request expects
/// (`Authorization: Bearer`). The token never goes in a URL. It polls
/// `GET /cluster` and `GET /stats` every 2 s while the tab is visible;
/// shed, drain and undrain act on the node that serves the page, rebalance
/// and disconnect on the whole cluster, each after a confirmation.
/// Everything the API returns is put in the page as text (`textContent`),
/// never as markup.
enum AdminDashboardPage {
    /// The paths the page is served at.
    static let paths: Set<String> = ["/", "/dashboard"]

    /// Headers sent with the page: only its own inline script runs (named
    /// by its hash), no framing (the actions cannot be clickjacked), nothing
    /// loaded or sent anywhere but this listener, no caching, no referrer.
    static let headers: [(name: String, value: String)] = [
        ("content-security-policy",
         "default-src 'none'; script-src '\(scriptHash)'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ]

    static let contentType = "text/html; charset=utf-8"

    /// `sha256-<base64>` of the page's inline script, as a
    /// Content-Security-Policy source: that script runs, no other would.
    static let scriptHash: String = {
        guard let open = html.range(of: "<script>"), let close = html.range(of: "</script>", range: open.upperBound..<html.endIndex) else {
            preconditionFailure("the dashboard page has an inline script")
        }
        let digest = SHA256.hash(data: Data(html[open.upperBound..<close.lowerBound].utf8))
        return "sha256-" + Data(digest).base64EncodedString()
    }()

    /// Whether `head` asks for the page (`GET` or `HEAD` of one of ``paths``).
    static func serves(_ head: HTTPRequestHead) -> Bool {
        (head.method == .GET || head.method == .HEAD) && paths.contains(String(QueryString.split(uri: head.uri).path))
    }

    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Switchboard admin</title>
    <link rel="icon" href="data:,">
    <style>
      :root {
        --bg: #f5f6f8; --panel: #fff; --ink: #1d2330; --muted: #667085; --line: #e3e6eb;
        --accent: #2f5bea; --ok: #16794c; --ok-bg: #e6f4ed; --warn: #9a5b00; --warn-bg: #fdf1dc;
        --bad: #b42318; --bad-bg: #fdecea; --idle-bg: #eef0f3;
      }
      * { box-sizing: border-box; }
      body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
      header { display: flex; align-items: center; gap: .75rem; flex-wrap: wrap; padding: .75rem 1.25rem; background: #141a29; color: #fff; }
      header h1 { font-size: 16px; margin: 0; font-weight: 600; letter-spacing: .01em; }
      header .where { color: #aab3c5; font-size: 13px; }
      header .spacer { flex: 1; }
      #live { font-size: 12px; color: #aab3c5; display: inline-flex; align-items: center; gap: .4rem; }
      #live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #7c869a; }
      #live.up::before { background: #3ccf8e; }
      #live.down::before { background: #f04438; }
      main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
      section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.1rem; margin-bottom: 1rem; }
      section h2 { font-size: 14px; margin: 0 0 .75rem; font-weight: 600; }
      .hint { color: var(--muted); font-size: 12.5px; margin: .25rem 0 0; }
      button { font: inherit; border: 1px solid var(--line); background: #fff; color: var(--ink); padding: .4rem .8rem; border-radius: 7px; cursor: pointer; }
      button:hover { border-color: #c4c9d2; }
      button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
      button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
      button:disabled { opacity: .55; cursor: default; }
      header button { background: transparent; color: #dfe4ee; border-color: #394257; padding: .25rem .6rem; font-size: 12.5px; }
      input { font: inherit; padding: .4rem .55rem; border: 1px solid #cfd4dc; border-radius: 7px; min-width: 0; }
      label { display: block; font-size: 12px; color: var(--muted); margin-bottom: .2rem; }
      #signin { max-width: 26rem; margin: 3rem auto; }
      #signin form { display: flex; gap: .5rem; }
      #signin input { flex: 1; }
      #signin-error { color: var(--bad); font-size: 13px; min-height: 1.2em; margin: .5rem 0 0; }
      .totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5rem, 1fr)); gap: .75rem; margin-bottom: 1rem; }
      .total { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: .7rem .9rem; }
      .total span { display: block; color: var(--muted); font-size: 12px; }
      .total strong { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
      table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
      th { text-align: left; font-weight: 500; color: var(--muted); font-size: 12px; padding: .4rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
      td { padding: .55rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
      tr:last-child td { border-bottom: 0; }
      td.num, th.num { text-align: right; }
      .name { font-weight: 600; }
      .here { font-size: 11px; color: var(--accent); border: 1px solid #c8d4fb; border-radius: 999px; padding: 0 .45rem; margin-left: .35rem; font-weight: 500; }
      .pill { display: inline-block; border-radius: 999px; padding: .05rem .55rem; font-size: 12px; font-weight: 500; background: var(--idle-bg); color: var(--muted); }
      .pill.ok { background: var(--ok-bg); color: var(--ok); }
      .pill.warn { background: var(--warn-bg); color: var(--warn); }
      .pill.bad { background: var(--bad-bg); color: var(--bad); }
      .split { color: var(--muted); font-size: 12px; }
      .ops { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 1rem; }
      .op { border: 1px solid var(--line); border-radius: 8px; padding: .8rem; display: flex; flex-direction: column; gap: .5rem; }
      .op h3 { font-size: 13px; margin: 0; }
      .op p { margin: 0; color: var(--muted); font-size: 12.5px; }
      .op .row { display: flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
      .op .row > div { flex: 1; min-width: 5.5rem; }
      .op .row input { width: 100%; }
      #drain-status { font-size: 12.5px; }
      #activity { list-style: none; margin: 0; padding: 0; font-size: 13px; max-height: 14rem; overflow-y: auto; }
      #activity li { padding: .3rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
      #activity li:last-child { border-bottom: 0; }
      #activity time { color: var(--muted); margin-right: .5rem; font-variant-numeric: tabular-nums; }
      #activity .failed { color: var(--bad); }
      dialog { border: 0; border-radius: 12px; padding: 1.25rem; max-width: min(28rem, calc(100vw - 2rem)); box-shadow: 0 12px 40px rgba(16, 24, 40, .25); }
      dialog::backdrop { background: rgba(16, 24, 40, .45); }
      dialog h2 { font-size: 16px; margin: 0 0 .5rem; }
      dialog p { margin: 0 0 1rem; color: #344054; }
      dialog .buttons { display: flex; justify-content: flex-end; gap: .5rem; }
      [hidden] { display: none !important; }
      @media (max-width: 720px) {
        header { padding: .6rem .9rem; }
        main { padding: .75rem .75rem 1.5rem; }
        section { padding: .8rem; }
        #nodes thead { display: none; }
        #nodes, #nodes tbody, #nodes tr, #nodes td { display: block; width: 100%; }
        #nodes tr { border: 1px solid var(--line); border-radius: 8px; margin-bottom: .6rem; padding: .3rem .6rem; }
        #nodes td { display: flex; justify-content: space-between; gap: 1rem; border: 0; padding: .25rem 0; white-space: normal; text-align: right; }
        #nodes td::before { content: attr(data-label); color: var(--muted); font-size: 12px; text-align: left; }
        #nodes td.num { text-align: right; }
      }
    </style>
    </head>
    <body>
    <header>
      <h1>Switchboard admin</h1>
      <span class="where" id="where"></span>
      <span class="spacer"></span>
      <span id="live">not connected</span>
      <button id="signout" type="button" hidden>Forget token</button>
    </header>

    <section id="signin" hidden>
      <h2>Admin token</h2>
      <form id="token-form" autocomplete="off">
        <input id="token" type="password" aria-label="Admin token" placeholder="SWITCHBOARD_ADMIN_TOKEN" required>
        <button class="primary" type="submit">Open</button>
      </form>
      <p class="hint">Kept in this tab only (sessionStorage) and sent as <code>Authorization: Bearer</code>.</p>
      <p id="signin-error" role="alert"></p>
    </section>

    <main id="dashboard" hidden>
      <div class="totals">
        <div class="total"><span>Nodes</span><strong id="total-nodes">–</strong></div>
        <div class="total"><span>Connections</span><strong id="total-connections">–</strong></div>
        <div class="total"><span>WebSocket</span><strong id="total-websocket">–</strong></div>
        <div class="total"><span>Long-poll</span><strong id="total-longpoll">–</strong></div>
        <div class="total"><span>Channels</span><strong id="total-channels">–</strong></div>
        <div class="total"><span>Serving</span><strong id="total-serving">–</strong></div>
      </div>

      <section>
        <h2>Nodes</h2>
        <table id="nodes">
          <thead><tr>
            <th>Node</th><th>Version</th><th>State</th><th class="num">Connections</th><th class="num">WebSocket / long-poll</th>
            <th class="num">Channels</th><th class="num">Topics</th><th>Adapter</th><th class="num">Uptime</th>
          </tr></thead>
          <tbody></tbody>
        </table>
        <p class="hint">Every node heard from in the last five report intervals; the others' counts are at most one interval old.</p>
      </section>

      <section>
        <h2>Operations on <span id="ops-node">this node</span></h2>
        <div class="ops">
          <div class="op">
            <h3>Drain</h3>
            <p>Stop taking new sockets (<code>/readyz</code> answers 503) and move every connection to other nodes, spread over the window.</p>
            <div class="row">
              <div><label for="drain-over">Over</label><input id="drain-over" value="60s"></div>
              <button id="drain-button" class="danger" type="button">Drain</button>
            </div>
            <div class="row">
              <span id="drain-status" class="hint"></span>
              <button id="undrain-button" type="button">Undrain</button>
            </div>
          </div>
          <div class="op">
            <h3>Shed</h3>
            <p>Close some connections (code 1012) so their clients reconnect elsewhere; the node keeps serving.</p>
            <div class="row">
              <div><label for="shed-percent">Percent</label><input id="shed-percent" inputmode="decimal" value="10"></div>
              <div><label for="shed-over">Over</label><input id="shed-over" value="30s"></div>
              <button id="shed-button" class="primary" type="button">Shed</button>
            </div>
          </div>
        </div>
      </section>

      <section>
        <h2>Cluster operations</h2>
        <div class="ops">
          <div class="op">
            <h3>Rebalance</h3>
            <p>Every serving node above the mean by more than the tolerance sheds its excess.</p>
            <div class="row">
              <div><label for="rebalance-tolerance">Tolerance</label><input id="rebalance-tolerance" value="10%"></div>
              <div><label for="rebalance-over">Over</label><input id="rebalance-over" value="30s"></div>
              <button id="rebalance-button" class="primary" type="button">Rebalance</button>
            </div>
          </div>
          <div class="op">
            <h3>Disconnect a socket id</h3>
            <p>Close every socket with this id, on every node (a logged-out or banned user).</p>
            <div class="row">
              <div><label for="disconnect-id">Socket id</label><input id="disconnect-id" placeholder="user_socket:42"></div>
              <button id="disconnect-button" class="danger" type="button">Disconnect</button>
            </div>
          </div>
        </div>
      </section>

      <section>
        <h2>Activity</h2>
        <ul id="activity"><li class="hint">Actions from this page are listed here.</li></ul>
      </section>
    </main>

    <dialog id="confirm">
      <form method="dialog">
        <h2 id="confirm-title"></h2>
        <p id="confirm-text"></p>
        <div class="buttons">
          <button id="confirm-cancel" value="cancel" type="submit">Cancel</button>
          <button id="confirm-ok" value="ok" class="danger" type="submit">Confirm</button>
        </div>
      </form>
    </dialog>

    <script>
    "use strict";
    const TOKEN_KEY = "switchboard:admin-token";
    const REFRESH_MS = 2000;
    const $ = (id) => document.getElementById(id);
    let refreshTimer = null, thisNode = null, refreshing = false;

    const token = () => sessionStorage.getItem(TOKEN_KEY);

    // One admin API request; the token goes in the Authorization header only.
    async function api(method, path, body) {
      const init = {method, headers: {"Authorization": "Bearer " + token()}, cache: "no-store"};
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const response = await fetch(new URL(path, location.href), init);
      if (response.status === 401) { signOut("The admin token was refused."); throw new Error("unauthorized"); }
      const json = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(json.error || "HTTP " + response.status);
      return json;
    }

    function signOut(message) {
      sessionStorage.removeItem(TOKEN_KEY);
      clearTimeout(refreshTimer);
      $("dashboard").hidden = true;
      $("signout").hidden = true;
      $("signin").hidden = false;
      $("signin-error").textContent = message || "";
      setLive("not connected", "");
      $("token").focus();
    }

    function start() {
      $("signin").hidden = true;
      $("dashboard").hidden = false;
      $("signout").hidden = false;
      refresh();
    }

    function setLive(text, state) {
      $("live").textContent = text;
      $("live").className = state;
    }

    const number = (value) => typeof value === "number" ? value.toLocaleString("en-US") : "–";

    function duration(seconds) {
      if (typeof seconds !== "number") return "–";
      const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
      if (d > 0) return `${d}d ${h}h`;
      if (h > 0) return `${h}h ${m}m`;
      if (m > 0) return `${m}m ${s % 60}s`;
      return `${s}s`;
    }

    function pillClass(value) {
      if (["serving", "connected", "ok"].includes(value)) return "pill ok";
      if (["draining", "guarded", "reconnecting", "connecting"].includes(value)) return "pill warn";
      if (["drained", "stopping", "disconnected", "failed", "down"].includes(value)) return "pill bad";
      return "pill";
    }

    function cell(label, text, className) {
      const td = document.createElement("td");
      td.dataset.label = label;
      if (className) td.className = className;
      if (text instanceof Node) td.appendChild(text); else td.textContent = text;
      return td;
    }

    function span(text, className) {
      const element = document.createElement("span");
      element.className = className;
      element.textContent = text;
      return element;
    }

    function renderNodes(cluster) {
      const nodes = Array.isArray(cluster.nodes) ? cluster.nodes : [];
      let websocket = 0, longpoll = 0, channels = 0, serving = 0;
      const rows = nodes.map((node) => {
        const lp = typeof node.longpoll_connections === "number" ? node.longpoll_connections : null;
        if (lp !== null) { longpoll += lp; websocket += node.connections - lp; }
        channels += node.channels || 0;
        if (node.accepting) serving += 1;
        const row = document.createElement("tr");
        row.dataset.node = node.node;
        const name = document.createElement("span");
        name.append(span(node.node, "name"));
        if (node.node === cluster.node) name.append(span("this node", "here"));
        const split = lp === null ? "–" : `${number(node.connections - lp)} / ${number(lp)}`;
        row.append(
          cell("Node", name),
          cell("Version", node.version),
          cell("State", span(node.state, pillClass(node.state))),
          cell("Connections", number(node.connections), "num"),
          cell("WebSocket / long-poll", split, "num split"),
          cell("Channels", number(node.channels), "num"),
          cell("Topics", number(node.topics), "num"),
          cell("Adapter", span(node.pubsub_state, pillClass(node.pubsub_state))),
          cell("Uptime", duration(node.uptime_seconds), "num"),
        );
        return row;
      });
      $("nodes").tBodies[0].replaceChildren(...rows);
      $("total-nodes").textContent = number(nodes.length);
      $("total-connections").textContent = number(cluster.connections);
      $("total-websocket").textContent = number(websocket);
      $("total-longpoll").textContent = number(longpoll);
      $("total-channels").textContent = number(channels);
      $("total-serving").textContent = `${serving} / ${nodes.length}`;
    }

    function renderStats(stats) {
      thisNode = stats.node;
      $("where").textContent = `${stats.node} · ${stats.version}`;
      $("ops-node").textContent = stats.node;
      document.title = `${stats.node} · Switchboard admin`;
      const drain = stats.drain || {};
      let status = `State: ${stats.state}`;
      if (drain.draining) status += ` (${Math.round(drain.elapsed_seconds)} s of ${Math.round(drain.window_seconds)} s)`;
      if (stats.shed && stats.shed.pending > 0) status += ` · ${number(stats.shed.pending)} to shed`;
      $("drain-status").textContent = status;
      $("undrain-button").disabled = stats.accepting;
      $("drain-button").disabled = !stats.accepting;
    }

    async function refresh() {
      clearTimeout(refreshTimer);
      // A hidden tab stops polling; showing it again refreshes at once.
      if (!token() || refreshing || document.hidden) return;
      refreshing = true;
      try {
        const [cluster, stats] = await Promise.all([api("GET", "cluster"), api("GET", "stats")]);
        renderNodes(cluster);
        renderStats(stats);
        setLive("live · " + new Date().toLocaleTimeString("en-GB"), "up");
      } catch (error) {
        if (!token()) return;
        setLive("no answer: " + error.message, "down");
      } finally {
        refreshing = false;
        if (token()) refreshTimer = setTimeout(refresh, REFRESH_MS);
      }
    }

    function logActivity(text, failed) {
      const list = $("activity");
      if (list.firstElementChild && list.firstElementChild.classList.contains("hint")) list.replaceChildren();
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.textContent = new Date().toLocaleTimeString("en-GB");
      item.append(time, span(text, failed ? "failed" : ""));
      list.prepend(item);
    }

    // Asks before an action: the in-page dialog (a test or a keyboard can drive it).
    function confirmAction(title, text, label) {
      return new Promise((resolve) => {
        const dialog = $("confirm");
        $("confirm-title").textContent = title;
        $("confirm-text").textContent = text;
        $("confirm-ok").textContent = label;
        dialog.returnValue = "cancel";
        dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
        dialog.showModal();
        $("confirm-cancel").focus();
      });
    }

    async function run(title, text, label, method, path, body, describe) {
      if (!(await confirmAction(title, text, label))) return;
      try {
        const result = await api(method, path, body);
        logActivity(describe(result), false);
      } catch (error) {
        logActivity(`${title} failed: ${error.message}`, true);
      }
      refresh();
    }

    const nodeName = () => thisNode || "this node";

    $("drain-button").addEventListener("click", () => {
      const over = $("drain-over").value.trim() || "60s";
      run(`Drain ${nodeName()}?`,
          `${nodeName()} stops taking new sockets (/readyz answers 503) and closes all its connections over ${over}, so clients reconnect to other nodes.`,
          "Drain", "POST", "drain", {over},
          (r) => `Drain of ${nodeName()} started: ${number(r.shedding)} connections over ${r.over_seconds} s`);
    });
    $("undrain-button").addEventListener("click", () => {
      run(`Undrain ${nodeName()}?`, `${nodeName()} takes new sockets again; connections already moved stay where they are.`,
          "Undrain", "POST", "undrain", {},
          (r) => `${nodeName()} undrained: ${r.state}`);
    });
    $("shed-button").addEventListener("click", () => {
      const percent = Number($("shed-percent").value);
      const over = $("shed-over").value.trim() || "30s";
      if (!Number.isFinite(percent) || percent < 0 || percent > 100) { logActivity("Shed: the percentage must be from 0 to 100", true); return; }
      run(`Shed ${percent}% of ${nodeName()}?`, `Closes ${percent}% of the connections of ${nodeName()} over ${over} (code 1012); their clients reconnect.`,
          "Shed", "POST", "shed", {percent, over},
          (r) => `Shedding ${number(r.shedding)} connections of ${nodeName()} over ${r.over_seconds} s`);
    });
    $("rebalance-button").addEventListener("click", () => {
      const tolerance = $("rebalance-tolerance").value.trim() || "10%";
      const over = $("rebalance-over").value.trim() || "30s";
      run("Rebalance the cluster?", `Nodes above the mean by more than ${tolerance} shed their excess over ${over}.`,
          "Rebalance", "POST", "rebalance", {tolerance, over},
          (r) => `Rebalance: mean ${Math.round(r.mean)}, shedding ${number(r.shedding)} over ${r.over_seconds} s`);
    });
    $("disconnect-button").addEventListener("click", () => {
      const id = $("disconnect-id").value.trim();
      if (!id) { logActivity("Disconnect: give a socket id", true); return; }
      run("Disconnect a socket id?", `Every socket with the id “${id}” is closed, on every node.`,
          "Disconnect", "POST", "disconnect", {id},
          (r) => `Disconnected ${r.id}: ${number(r.disconnected)} here, other nodes asked`);
    });

    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      start();
    });
    $("signout").addEventListener("click", () => signOut(""));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });

    if (token()) start(); else signOut("");
    </script>
    </body>
    </html>

    """#
}
