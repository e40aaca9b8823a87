import Switchboard
/// The demo chat page that `switchboard serve` shows at `/` with `auth: none`:
/// one self-contained HTML document whose inline script is a minimal,
/// hand-written Phoenix Channels V2 client (connect with a `user_id`,
/// heartbeat every 30 s, join `room:lobby`, shout, reconnect with
/// phoenix.js's backoff, and phoenix.js's fallback to long-poll when the
/// WebSocket fails before it ever opened, or takes over 2.5 s to), and,
/// with `presence: true`, who is online (phoenix.js's `Presence` sync rules:
/// diffs wait for the `presence_state` of the current join). It shows the
/// node it is connected to (the room's `node` event), says so when a message
/// cannot be sent (and keeps it in the box), and fits a 390 px phone. It
/// loads nothing from the network but ``favicon`` (served at `/favicon.ico`).
public enum DemoPage {
    /// The page's icon, an SVG served at `/favicon.ico` next to the page.
    public static let favicon = #"""
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f5bea"/>
    <circle cx="10" cy="16" r="3.5" fill="#fff"/><circle cx="22" cy="9" r="3.5" fill="#fff"/><circle cx="22" cy="23" r="3.5" fill="#fff"/>
    <path d="M10 16 22 9M10 16l12 7" stroke="#fff" stroke-width="2"/></svg>
    """#

    /// The page, for sockets mounted at `socketPath` (`/socket`).
    public static func html(socketPath: String) -> String {
        let path = JSONValue.string(socketPath).jsonString.replacing("</", with: "<\\/")
        return #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Switchboard demo chat</title>
        <link rel="icon" type="image/svg+xml" href="/favicon.ico">
        <style>
          body { font: 15px/1.45 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
          header { display: flex; justify-content: space-between; align-items: baseline; gap: .25rem 1rem; flex-wrap: wrap; }
          h1 { font-size: 1.4rem; margin: 0; }
          #status { font-size: 13px; color: #a33; }
          #status.up { color: #1a7f37; }
          #log { list-style: none; margin: 1rem 0; padding: .5rem .75rem; border: 1px solid #ccc; border-radius: 6px; height: 22rem; overflow-y: auto; }
          #log li { padding: 2px 0; overflow-wrap: anywhere; }
          #log li.meta { color: #888; font-size: 13px; }
          form { display: flex; gap: .5rem; flex-wrap: wrap; }
          input, button { font: inherit; padding: .35rem .6rem; min-width: 0; }
          #name { width: 8rem; }
          #body { flex: 1; }
          #notice { color: #a33; font-size: 13px; margin: .4rem 0 0; }
          main { display: flex; gap: 1rem; }
          main > div { flex: 1; min-width: 0; }
          #online { width: 12rem; margin: 1rem 0; padding: .5rem .75rem; border: 1px solid #ccc; border-radius: 6px; font-size: 14px; }
          #online[hidden] { display: none; }
          #online h2 { font-size: 14px; margin: 0 0 .4rem; }
          #online ul { list-style: none; margin: 0; padding: 0; }
          #online li { padding: 2px 0; overflow-wrap: anywhere; }
          #online .node { color: #888; font-size: 12px; }
          @media (max-width: 600px) {
            body { margin: 1rem auto; }
            main { flex-direction: column; gap: 0; }
            #log { height: 45vh; margin-bottom: .5rem; }
            #online { width: auto; margin: 0 0 1rem; }
            #name { flex: 1 1 100%; width: auto; }
          }
        </style>
        </head>
        <body>
        <header><h1>Switchboard demo chat</h1><span id="status">connecting…</span></header>
        <p>Topic <code>room:lobby</code>. Open this page in a second window and shout.</p>
        <main><div><ul id="log"></ul></div>
        <aside id="online" hidden><h2>Online (<span id="count">0</span>)</h2><ul id="people"></ul></aside></main>
        <form id="form">
          <input id="name" aria-label="Your name" maxlength="32">
          <input id="body" aria-label="Message" placeholder="Say something" autocomplete="off" maxlength="500">
          <button>Shout</button>
        </form>
        <p id="notice" role="alert" hidden></p>
        <script>
        "use strict";
        // A minimal Phoenix Channels V2 client: frames are [join_ref, ref, topic, event, payload].
        const SOCKET_PATH = \#(path);
        const TOPIC = "room:lobby";
        const BACKOFF_MS = [10, 50, 100, 150, 200, 250, 500, 1000, 2000]; // then every 5 s, as phoenix.js
        const userID = String(Math.floor(Math.random() * 1000000));
        const $ = (id) => document.getElementById(id);
        $("name").value = "user" + userID;

        const FALLBACK_MS = 2500; // phoenix.js's longPollFallbackMs
        let ws = null, ref = 0, joinRef = null, joined = false, attempts = 0, everOpened = false, node = null;
        let useLongPoll = sessionStorage.getItem("switchboard:longpoll") === "1";
        let heartbeatTimer = null, heartbeatRef = null;
        const pendingReplies = new Map(); // ref -> function(status, response)

        // Presence, with phoenix.js's rules: {key: {metas: [...]}}; diffs wait
        // for the presence_state of the current join.
        let presences = {}, pendingDiffs = [], presenceJoinRef = null;
        const refsOf = (metas) => metas.map((meta) => meta.phx_ref);
        function syncDiff(state, {joins, leaves}) {
          for (const [key, joined] of Object.entries(joins)) {
            const kept = (state[key] ? state[key].metas : []).filter((meta) => !refsOf(joined.metas).includes(meta.phx_ref));
            state[key] = {metas: kept.concat(joined.metas)};
          }
          for (const [key, left] of Object.entries(leaves)) {
            if (!state[key]) continue;
            state[key].metas = state[key].metas.filter((meta) => !refsOf(left.metas).includes(meta.phx_ref));
            if (state[key].metas.length === 0) delete state[key];
          }
          return state;
        }
        function syncState(state, next) {
          const joins = {}, leaves = {};
          for (const key of Object.keys(state)) if (!next[key]) leaves[key] = state[key];
          for (const [key, presence] of Object.entries(next)) {
            const current = state[key] ? refsOf(state[key].metas) : [];
            const joined = presence.metas.filter((meta) => !current.includes(meta.phx_ref));
            const left = state[key] ? state[key].metas.filter((meta) => !refsOf(presence.metas).includes(meta.phx_ref)) : [];
            if (joined.length) joins[key] = {metas: joined};
            if (left.length) leaves[key] = {metas: left};
          }
          return syncDiff(state, {joins, leaves});
        }
        function renderPresence() {
          const people = Object.entries(presences);
          $("online").hidden = false;
          $("count").textContent = people.length;
          $("people").replaceChildren(...people.map(([key, {metas}]) => {
            const item = document.createElement("li");
            item.textContent = (metas[metas.length - 1].name || "user" + key) + " ";
            const nodes = document.createElement("span");
            nodes.className = "node";
            nodes.textContent = [...new Set(metas.map((meta) => meta.node).filter(Boolean))].join(", ");
            item.appendChild(nodes);
            return item;
          }));
        }

        function log(text, meta) {
          const item = document.createElement("li");
          if (meta) item.className = "meta";
          item.textContent = text;
          $("log").appendChild(item);
          $("log").scrollTop = $("log").scrollHeight;
        }

        function setStatus(text, up) {
          $("status").textContent = text;
          $("status").className = up ? "up" : "";
        }

        function showConnected() {
          setStatus(`connected${node ? " to " + node : ""}${useLongPoll ? " (long-poll)" : ""}`, true);
        }

        function notice(text) {
          $("notice").textContent = text;
          $("notice").hidden = !text;
        }

        // Phoenix's long-poll transport behind the WebSocket interface this page uses.
        class LongPoll {
          constructor(url) {
            this.url = url; this.token = null; this.readyState = 0; this.closed = false;
            this.outbox = []; this.posting = false;
            setTimeout(() => this.poll(), 0);
          }
          async request(method, body) {
            const url = this.url + (this.token ? "&token=" + encodeURIComponent(this.token) : "");
            const init = method === "POST" ? {method, body, headers: {"Content-Type": "application/x-ndjson"}} : {method};
            return (await fetch(url, init)).json();
          }
          async poll() {
            while (!this.closed) {
              let answer;
              try { answer = await this.request("GET"); } catch { return this.end(1011); }
              if (this.closed) return;
              if (answer.status === 410 && this.token) return this.end(3410); // the session is gone
              if (answer.token) this.token = answer.token;
              if (answer.status === 410) { this.readyState = 1; this.onopen(); }
              else if (answer.status === 200) answer.messages.forEach((data) => this.onmessage({data}));
              else if (answer.status !== 204) return this.end(answer.status === 403 ? 1008 : 1011);
            }
          }
          send(text) {
            this.outbox.push(text);
            if (!this.posting) this.post();
          }
          async post() {
            this.posting = true;
            while (this.outbox.length > 0 && !this.closed) {
              const batch = this.outbox.splice(0, 100);
              try {
                if ((await this.request("POST", batch.join("\n"))).status !== 200) return this.end(1011);
              } catch { return this.end(1011); }
            }
            this.posting = false;
          }
          close(code) { this.end(code || 1000); }
          end(code) {
            if (this.closed) return;
            this.closed = true; this.readyState = 3;
            this.onclose({code});
          }
        }

        function push(topic, event, payload, onReply) {
          const msgRef = String(++ref);
          if (onReply) pendingReplies.set(msgRef, onReply);
          ws.send(JSON.stringify([topic === "phoenix" ? null : joinRef, msgRef, topic, event, payload]));
          return msgRef;
        }

        function join() {
          if (!ws || ws.readyState !== 1) return; // open
          joinRef = String(ref + 1); // the join's own ref is its join_ref
          push(TOPIC, "phx_join", {meta: {name: $("name").value.trim() || "anonymous"}}, (status, response) => {
            joined = status === "ok";
            log(joined ? `joined ${TOPIC} as user ${userID}` : `join refused: ${JSON.stringify(response)}`, true);
            if (!joined) { setTimeout(join, 5000); return; }
            notice("");
            // Which node this socket reached (behind a load balancer, any of them).
            push(TOPIC, "node", {}, (status, response) => {
              if (status === "ok" && response.node) { node = String(response.node); showConnected(); }
            });
          });
        }

        function sendHeartbeat() {
          if (heartbeatRef) { ws.close(3000, "heartbeat timeout"); return; } // the last one got no reply
          heartbeatRef = push("phoenix", "heartbeat", {}, () => { heartbeatRef = null; });
        }

        // Long-poll for good (in this tab) once a WebSocket failed before it ever
        // opened, or did not open within FALLBACK_MS, as phoenix.js does.
        function fallBack(socket) {
          if (everOpened || useLongPoll || socket !== ws) return;
          useLongPoll = true;
          sessionStorage.setItem("switchboard:longpoll", "1");
          log("WebSocket unavailable: falling back to long-poll", true);
          socket.onclose = null;
          socket.close();
          connect();
        }

        function connect() {
          const query = `?vsn=2.0.0&user_id=${encodeURIComponent(userID)}`;
          if (useLongPoll) {
            ws = new LongPoll(`${location.origin}${SOCKET_PATH}/longpoll${query}`);
          } else {
            const scheme = location.protocol === "https:" ? "wss:" : "ws:";
            const socket = new WebSocket(`${scheme}//${location.host}${SOCKET_PATH}/websocket${query}`);
            ws = socket;
            if (!everOpened) {
              const timer = setTimeout(() => fallBack(socket), FALLBACK_MS);
              socket.addEventListener("open", () => clearTimeout(timer));
              socket.addEventListener("error", () => { clearTimeout(timer); fallBack(socket); });
            }
          }
          ws.onopen = () => {
            attempts = 0;
            everOpened = true;
            node = null;
            showConnected();
            if (!useLongPoll) heartbeatTimer = setInterval(sendHeartbeat, 30000); // none over long-poll, as phoenix.js
            join();
          };
          ws.onmessage = (message) => {
            if (typeof message.data !== "string") return; // binary frames: not used by this page
            const [msgJoinRef, msgRef, topic, event, payload] = JSON.parse(message.data);
            if (event === "phx_reply") {
              const onReply = pendingReplies.get(msgRef);
              pendingReplies.delete(msgRef);
              if (onReply) onReply(payload.status, payload.response);
            } else if (topic === TOPIC && event === "presence_state" && msgJoinRef === joinRef) {
              presenceJoinRef = joinRef;
              presences = syncState(presences, payload);
              pendingDiffs.splice(0).forEach((diff) => { presences = syncDiff(presences, diff); });
              renderPresence();
            } else if (topic === TOPIC && event === "presence_diff") {
              if (presenceJoinRef !== joinRef) { pendingDiffs.push(payload); return; }
              presences = syncDiff(presences, payload);
              renderPresence();
            } else if (topic === TOPIC && event === "shout") {
              log(`${payload.name || "someone"}: ${payload.body}`);
            } else if (topic === TOPIC && (event === "phx_error" || event === "phx_close") && msgJoinRef === joinRef) {
              joined = false;
              log(`channel ${event === "phx_error" ? "crashed" : "closed"}, rejoining`, true);
              setTimeout(join, 1000);
            }
          };
          ws.onclose = (event) => {
            clearInterval(heartbeatTimer);
            pendingReplies.clear();
            heartbeatRef = null;
            joined = false;
            const delay = BACKOFF_MS[attempts++] || 5000;
            setStatus(`disconnected (code ${event.code}), retrying in ${delay} ms`, false);
            setTimeout(connect, delay);
          };
        }

        $("form").addEventListener("submit", (event) => {
          event.preventDefault();
          const body = $("body").value.trim();
          if (!body) return;
          if (!joined) {
            // Kept in the box: nothing is queued while disconnected.
            notice(ws && ws.readyState === 1 ? "Not sent: joining the room, try again in a moment."
                                             : "Not sent: disconnected. Your message is kept here; send it again once reconnected.");
            return;
          }
          notice("");
          const name = $("name").value.trim() || "anonymous";
          push(TOPIC, "shout", {name, body}, (status, response) => {
            if (status !== "ok") log(`shout failed: ${JSON.stringify(response)}`, true);
          });
          $("body").value = "";
        });

        connect();
        </script>
        </body>
        </html>

        """#
    }
}
