/** What the page needs to start; injected as JSON (escaped so it cannot close the script). */
export interface EmbedBootstrap {
  token: string;
  language: "en" | "es";
  mode: "system" | "light" | "dark";
  status: "active" | "ended" | "all";
  search: string;
}

const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

const STRINGS = {
  en: {
    search: "Search",
    active: "Active",
    ended: "Ended",
    all: "All",
    empty: "No conversations",
    pick: "Select a conversation",
    placeholder: "Type a message",
    send: "Send",
    ended_note: "This conversation has ended",
    unauthorized: "This inbox link is invalid, revoked or expired.",
  },
  es: {
    search: "Buscar",
    active: "Activas",
    ended: "Finalizadas",
    all: "Todas",
    empty: "No hay conversaciones",
    pick: "Selecciona una conversación",
    placeholder: "Escribe un mensaje",
    send: "Enviar",
    ended_note: "Esta conversación ha finalizado",
    unauthorized: "Este enlace de bandeja no es válido, fue revocado o expiró.",
  },
};

const STYLE = `
:root{--bg:#fff;--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--out:#dcfce7;--in:#f1f5f9;--accent:#16a34a}
:root[data-theme=dark]{--bg:#0b1220;--fg:#e2e8f0;--muted:#94a3b8;--line:#1e293b;--out:#14532d;--in:#1e293b;--accent:#22c55e}
*{box-sizing:border-box}body{margin:0;font:14px system-ui,sans-serif;background:var(--bg);color:var(--fg);height:100vh;display:flex}
#list{width:320px;border-right:1px solid var(--line);display:flex;flex-direction:column}
#filters{display:flex;gap:4px;padding:8px}#filters input{flex:1}input,select,button,textarea{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:6px}
#conversations{overflow:auto;flex:1;margin:0;padding:0;list-style:none}
#conversations li{padding:10px;border-bottom:1px solid var(--line);cursor:pointer}#conversations li.selected{background:var(--in)}
.name{font-weight:600}.preview{color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.badge{float:right;background:var(--accent);color:#fff;border-radius:9px;padding:0 6px;font-size:12px}
#thread{flex:1;display:flex;flex-direction:column}#messages{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:70%;padding:6px 10px;border-radius:8px;background:var(--in)}.msg.outbound{align-self:flex-end;background:var(--out)}
.media{display:block;max-width:100%;max-height:320px;border-radius:6px;margin-bottom:4px}
.ticks{font-size:11px;color:var(--muted);margin-left:6px}.ticks.read{color:#2563eb}.ticks.failed{color:#dc2626}
#composer{display:flex;gap:6px;padding:8px;border-top:1px solid var(--line)}#composer textarea{flex:1;resize:none;height:40px}
#dot{width:8px;height:8px;border-radius:4px;background:#dc2626;display:inline-block;margin:8px}#dot.on{background:var(--accent)}
.note{padding:12px;color:var(--muted)}`;

const SCRIPT = `
const boot = JSON.parse(document.getElementById("boot").textContent);
const t = STRINGS[boot.language] || STRINGS.en;
const api = (path, init = {}) => fetch("/embed/api" + path, { ...init, headers: { authorization: "Bearer " + boot.token, "content-type": "application/json", ...(init.headers || {}) } })
  .then(async (r) => { const body = await r.json(); if (!r.ok) throw new Error(body.error || r.status); return body; });
const $ = (id) => document.getElementById(id);
const theme = boot.mode === "system" ? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light") : boot.mode;
document.documentElement.dataset.theme = theme;
document.documentElement.lang = boot.language;
const state = { status: boot.status, search: boot.search, conversations: [], selected: null, messages: [] };
function post(reason) {
  if (window.parent === window) return;
  window.parent.postMessage({ source: "kapso-inbox", version: 1, type: "inbox.state", payload: {
    reason, selectedConversation: state.conversations.find((c) => c.id === state.selected) || null,
    visibleConversationIds: state.conversations.map((c) => c.id),
    hasUnreadConversations: state.conversations.some((c) => c.unread_count > 0),
    filters: { status: state.status, search: state.search }, resources: {} } }, "*");
}
function el(tag, attrs = {}, ...children) { const e = document.createElement(tag); Object.assign(e, attrs); e.append(...children); return e; }
function renderList() {
  const ul = $("conversations"); ul.replaceChildren();
  if (!state.conversations.length) ul.append(el("li", { className: "note", textContent: t.empty }));
  for (const c of state.conversations) {
    const li = el("li", { className: c.id === state.selected ? "selected" : "", onclick: () => select(c.id) },
      el("div", { className: "name", textContent: (c.kapso && c.kapso.contact_name) || c.phone_number || "" }),
      el("div", { className: "preview", textContent: (c.kapso && c.kapso.last_message_text) || "" }));
    li.dataset.id = c.id;
    if (c.unread_count > 0) li.firstChild.append(el("span", { className: "badge", textContent: String(c.unread_count) }));
    ul.append(li);
  }
}
function renderMedia(m) {
  const src = m.kapso.media_url;
  if (m.type === "image" || m.type === "sticker") return el("img", { className: "media", src, alt: m.type, loading: "lazy" });
  if (m.type === "video") return el("video", { className: "media", src, controls: true, preload: "metadata" });
  if (m.type === "audio") return el("audio", { src, controls: true, preload: "none" });
  return el("a", { href: src, target: "_blank", rel: "noopener", textContent: (m[m.type] && m[m.type].filename) || m.kapso.content || "[" + m.type + "]" });
}
const TICKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };
function renderThread() {
  const box = $("messages"); box.replaceChildren();
  const c = state.conversations.find((x) => x.id === state.selected);
  if (!c) { box.append(el("div", { className: "note", textContent: t.pick })); $("composer").hidden = true; return; }
  for (const m of [...state.messages].reverse()) {
    const body = m.kapso.content || "[" + m.type + "]";
    const div = el("div", { className: "msg " + m.kapso.direction });
    const media = m.kapso.media_url ? renderMedia(m) : null;
    if (media) div.append(media);
    if (!media || (m[m.type] && m[m.type].caption)) div.append(el("span", { textContent: media ? m[m.type].caption : body }));
    div.dataset.id = m.id;
    if (m.kapso.direction === "outbound") div.append(el("span", { className: "ticks " + m.kapso.status, textContent: TICKS[m.kapso.status] || "" }));
    box.append(div);
  }
  box.scrollTop = box.scrollHeight;
  $("composer").hidden = c.status !== "active";
}
async function loadList() {
  const q = new URLSearchParams({ status: state.status }); if (state.search) q.set("search", state.search);
  state.conversations = (await api("/conversations?" + q)).data; renderList();
}
async function loadThread() {
  if (!state.selected) return renderThread();
  state.messages = (await api("/conversations/" + state.selected + "/messages")).data; renderThread();
}
async function select(id) {
  state.selected = id; renderList(); await loadThread(); post("conversation_selected");
  await api("/conversations/" + id + "/read", { method: "POST", body: "{}" }); await loadList(); post("read_state_changed");
}
$("search").placeholder = t.search; $("search").value = state.search;
for (const s of ["active", "ended", "all"]) $("status").append(el("option", { value: s, textContent: t[s], selected: s === state.status }));
$("status").onchange = async (e) => { state.status = e.target.value; await loadList(); post("filters_changed"); };
$("search").oninput = async (e) => { state.search = e.target.value; await loadList(); post("filters_changed"); };
$("text").placeholder = t.placeholder; $("send").textContent = t.send;
$("composer").onsubmit = async (e) => {
  e.preventDefault(); const text = $("text").value.trim(); if (!text || !state.selected) return;
  $("text").value = "";
  try { await api("/conversations/" + state.selected + "/messages", { method: "POST", body: JSON.stringify({ text }) }); }
  catch (err) { $("messages").append(el("div", { className: "note", textContent: err.message })); }
  await loadThread();
};
let delay = 1000;
function connect() {
  const source = new EventSource("/embed/api/events?token=" + encodeURIComponent(boot.token));
  source.onopen = () => { $("dot").className = "on"; delay = 1000; };
  source.addEventListener("update", async (e) => {
    const { conversation_id } = JSON.parse(e.data);
    await loadList(); if (conversation_id === state.selected) await loadThread(); post("conversation_updated");
  });
  source.onerror = () => { $("dot").className = ""; source.close(); setTimeout(connect, delay); delay = Math.min(delay * 2, 30000); };
}
loadList().then(() => { renderThread(); post("ready"); connect(); });
`;

/** The inbox page: a small self-contained app (no build step) calling the embed API. */
export function embedPage(boot: EmbedBootstrap): string {
  return `<!doctype html><html lang="${boot.language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Inbox</title><style>${STYLE}</style></head>
<body><aside id="list"><div id="filters"><span id="dot"></span><input id="search" type="search"><select id="status"></select></div>
<ul id="conversations"></ul></aside>
<main id="thread"><div id="messages"></div><form id="composer" hidden><textarea id="text"></textarea><button id="send" type="submit"></button></form></main>
<script type="application/json" id="boot">${json(boot)}</script>
<script>const STRINGS = ${json(STRINGS)};${SCRIPT}</script></body></html>`;
}

/** Shown for an unknown, revoked or expired token (with status 401). */
export function unauthorizedPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Inbox unavailable</title></head>
<body style="font:15px system-ui,sans-serif;padding:2em"><p>${STRINGS.en.unauthorized}</p><p lang="es">${STRINGS.es.unauthorized}</p></body></html>`;
}
