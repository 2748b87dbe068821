// The embedded inbox's browser code: plain JavaScript, no build step, no dependencies. It reads
// its bootstrap (token, language, mode, initial filters) from the page, calls the embed API
// under /embed/api and listens to the inbox WebSocket for live changes.

const boot = JSON.parse(document.getElementById("boot").textContent);
const t = boot.strings;
const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 30;
/** A reconnecting page asks for changes this long before the last server time it saw, so a
 * change committed by a transaction that started before that moment is not missed. */
const CATCH_UP_MARGIN_MS = 30_000;
/** The server pings every 25 s: this much silence means the connection is gone. */
const SILENCE_MS = 60_000;

async function api(path, init = {}) {
  // A FormData body (a file) sets its own multipart content type.
  const json = init.body instanceof FormData ? {} : { "content-type": "application/json" };
  const response = await fetch(`/embed/api${path}`, {
    ...init,
    headers: { authorization: `Bearer ${boot.token}`, ...json, ...init.headers },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || String(response.status));
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

const theme =
  boot.mode === "system"
    ? matchMedia("(prefers-color-scheme: dark)").matches
      ? "dark"
      : "light"
    : boot.mode;
document.documentElement.dataset.theme = theme;
document.documentElement.lang = boot.language;

const state = {
  filters: { ...boot.filters },
  /** Loaded conversations, newest activity first. */
  conversations: [],
  /** Cursor of the next page of the list, null at its end. */
  next: null,
  loadingMore: false,
  /** Bumped on every reload of the list, so an older page arriving late is dropped. */
  listVersion: 0,
  selected: boot.conversationId,
  /** The selected conversation (it may lie outside the loaded part of the list). */
  current: null,
  /** Messages of the selected conversation, newest first. */
  messages: [],
  /** Last server time seen on the WebSocket: where catching up starts. */
  since: null,
  /** Approved templates of the selected conversation's number: `{conversationId, list}`. */
  templates: null,
};

// ---- host integration -------------------------------------------------------------------

/** Where state messages go: the framing page's origin when the embed restricts origins. */
function hostOrigin() {
  if (!boot.restrictHost) return "*";
  if (location.ancestorOrigins?.length) return location.ancestorOrigins[0];
  try {
    return document.referrer ? new URL(document.referrer).origin : null;
  } catch {
    return null;
  }
}

function post(reason) {
  if (window.parent === window) return;
  const target = hostOrigin();
  if (!target) return;
  window.parent.postMessage(
    {
      source: "kapso-inbox",
      version: 1,
      type: "inbox.state",
      payload: {
        reason,
        selectedConversation: state.current,
        visibleConversationIds: state.conversations.map((c) => c.id),
        hasUnreadConversations: state.conversations.some((c) => c.unread_count > 0),
        filters: { ...state.filters },
        resources: {},
      },
    },
    target,
  );
}

// ---- conversation list --------------------------------------------------------------------

/** The server's filters, applied to a conversation that changed live. */
function matches(c) {
  const f = state.filters;
  if (f.status !== "all" && c.status !== f.status) return false;
  if (f.unread && !(c.unread_count > 0)) return false;
  if (f.handoff && !(c.status === "active" && c.awaiting_reply)) return false;
  if (f.phone_number_id && c.phone_number_id !== f.phone_number_id) return false;
  if (f.search) {
    const q = f.search.toLowerCase();
    const name = (c.kapso.contact_name || "").toLowerCase();
    if (!name.includes(q) && !(c.phone_number || "").includes(q)) return false;
  }
  return true;
}

/** Newest activity first, as the server orders (timestamps share one format, so strings compare). */
const newer = (a, b) =>
  a.last_active_at === b.last_active_at ? a.id > b.id : a.last_active_at > b.last_active_at;

function upsertConversation(c) {
  const list = state.conversations.filter((x) => x.id !== c.id);
  if (matches(c)) {
    const at = list.findIndex((x) => newer(c, x));
    // Older than everything loaded while more pages exist: it arrives with its page.
    if (at === -1 && state.next === null) list.push(c);
    else if (at !== -1) list.splice(at, 0, c);
  }
  state.conversations = list;
}

function listQuery() {
  const f = state.filters;
  const q = new URLSearchParams({ status: f.status, limit: String(PAGE_SIZE) });
  if (f.search) q.set("search", f.search);
  if (f.unread) q.set("unread", "true");
  if (f.handoff) q.set("handoff", "true");
  if (f.phone_number_id) q.set("phone_number_id", f.phone_number_id);
  return q;
}

function renderList() {
  const ul = $("conversations");
  ul.replaceChildren();
  if (!state.conversations.length && state.next === null) {
    ul.append(el("li", { className: "note", textContent: t.empty }));
  }
  for (const c of state.conversations) {
    const name = el("div", { className: "name", textContent: c.kapso.contact_name || c.phone_number || "" });
    if (c.unread_count > 0)
      name.append(el("span", { className: "badge", textContent: String(c.unread_count) }));
    const li = el(
      "li",
      { className: c.id === state.selected ? "selected" : "", onclick: () => select(c.id) },
      name,
      el("div", { className: "preview", textContent: c.kapso.last_message_text || "" }),
    );
    li.dataset.id = c.id;
    ul.append(li);
  }
  if (state.next !== null) {
    const more = el("li", { className: "more note", textContent: t.loading });
    ul.append(more);
    moreObserver.observe(more);
  }
}

async function loadList() {
  const version = ++state.listVersion;
  const page = await api(`/conversations?${listQuery()}`);
  if (version !== state.listVersion) return;
  state.conversations = page.data;
  state.next = page.paging.next;
  renderList();
}

/** Infinite scroll: the next 30 once the end of the list comes into view. */
async function loadMore() {
  if (state.loadingMore || state.next === null) return;
  state.loadingMore = true;
  const version = state.listVersion;
  try {
    const q = listQuery();
    q.set("after", state.next);
    const page = await api(`/conversations?${q}`);
    if (version !== state.listVersion) return;
    const known = new Set(state.conversations.map((c) => c.id));
    state.conversations.push(...page.data.filter((c) => !known.has(c.id)));
    state.next = page.paging.next;
    renderList();
    post("conversation_updated");
  } finally {
    state.loadingMore = false;
  }
}

const moreObserver = new IntersectionObserver(
  (entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  },
  { root: $("conversations"), rootMargin: "200px" },
);

// ---- thread -------------------------------------------------------------------------------

function renderMedia(m) {
  const src = m.kapso.media_url;
  if (m.type === "image" || m.type === "sticker") {
    return el("img", { className: "media", src, alt: m.type, loading: "lazy" });
  }
  if (m.type === "video")
    return el("video", { className: "media", src, controls: true, preload: "metadata" });
  if (m.type === "audio") return el("audio", { src, controls: true, preload: "none" });
  return el("a", {
    href: src,
    target: "_blank",
    rel: "noopener",
    textContent: m[m.type]?.filename || m.kapso.content || `[${m.type}]`,
  });
}

// WhatsApp's text formatting, built as DOM nodes (never as HTML): ```monospace```, `code`,
// *bold*, _italic_, ~strikethrough~ (markers at word edges, nesting allowed) and web links.
const FORMAT =
  /```([\s\S]+?)```|`([^`\n]+)`|(^|[^\w*_~])([*_~])(?=\S)([^\n]*?\S)\4(?![\w*_~])|(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]])/;
const EMPHASIS = { "*": "b", _: "i", "~": "s" };

function formatted(text) {
  const out = document.createDocumentFragment();
  let rest = text;
  for (let m = FORMAT.exec(rest); m; m = FORMAT.exec(rest)) {
    const [whole, block, code, lead, marker, inner, link] = m;
    out.append(rest.slice(0, m.index));
    if (block !== undefined) out.append(el("code", { className: "block", textContent: block }));
    else if (code !== undefined) out.append(el("code", { textContent: code }));
    else if (link !== undefined)
      out.append(el("a", { href: link, target: "_blank", rel: "noopener", textContent: link }));
    else out.append(lead, el(EMPHASIS[marker], {}, formatted(inner)));
    rest = rest.slice(m.index + whole.length);
  }
  out.append(rest);
  return out;
}

/** What a message says, by type: formatted text, a map link, contact cards, a reply's title. */
function renderBody(m) {
  const body = m[m.type] || {};
  switch (m.type) {
    case "text":
      return el("span", { className: "text" }, formatted(body.body || ""));
    case "location": {
      const where = [body.name, body.address].filter(Boolean).join(", ");
      const map = `https://www.openstreetmap.org/?mlat=${body.latitude}&mlon=${body.longitude}#map=16/${body.latitude}/${body.longitude}`;
      return el(
        "span",
        { className: "location" },
        `📍 ${where || `${body.latitude}, ${body.longitude}`} `,
        el("a", { href: map, target: "_blank", rel: "noopener", textContent: t.open_map }),
      );
    }
    case "contacts":
      return el(
        "span",
        { className: "contacts" },
        ...(body.contacts || []).map((c) =>
          el(
            "span",
            { className: "contact" },
            `👤 ${c.name?.formatted_name || ""}`,
            ...(c.phones || []).map((p) =>
              el("span", { className: "phone", textContent: ` ${p.phone || p.wa_id}` }),
            ),
          ),
        ),
      );
    case "interactive": {
      const reply = body.button_reply || body.list_reply;
      if (reply) return el("span", { className: "reply", textContent: `↩ ${reply.title}` });
      if (body.nfm_reply) return el("span", { className: "reply", textContent: `↩ ${t.flow_response}` });
      // An interactive message sent to the contact: its text and the choices it offered.
      const choices = [
        ...(body.action?.buttons || []).map((b) => b.reply?.title),
        ...(body.action?.sections || []).flatMap((sec) => (sec.rows || []).map((r) => r.title)),
        body.action?.parameters?.display_text,
      ].filter(Boolean);
      return el(
        "span",
        { className: "text" },
        formatted(body.body?.text || m.kapso.content || "[interactive]"),
        ...choices.map((c) => el("span", { className: "choice", textContent: c })),
      );
    }
    default:
      return el("span", { className: "text" }, formatted(m.kapso.content || `[${m.type}]`));
  }
}

const TICKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };

function failure(m) {
  const e = m.kapso.error?.error || m.kapso.error;
  return e?.message ? el("span", { className: "error", textContent: e.message }) : null;
}

function renderThread() {
  const box = $("messages");
  box.replaceChildren();
  const c = state.current;
  if (!c) {
    box.append(el("div", { className: "note", textContent: t.pick }));
    renderComposer();
    renderDetails();
    return;
  }
  // Reactions show on the message they react to (the latest one of each side counts; an empty
  // emoji takes it back); one whose message is not loaded shows on its own.
  const shown = new Set(state.messages.map((m) => m.id));
  const reactions = new Map();
  for (const m of [...state.messages].reverse()) {
    const target = m.type === "reaction" && m.reaction?.message_id;
    if (!target || !shown.has(target)) continue;
    const sides = reactions.get(target) || {};
    sides[m.kapso.direction] = m.reaction.emoji;
    reactions.set(target, sides);
  }
  for (const m of [...state.messages].reverse()) {
    if (m.type === "reaction" && shown.has(m.reaction?.message_id)) continue;
    const div = el("div", { className: `msg ${m.kapso.direction}` });
    const media = m.kapso.media_url ? renderMedia(m) : null;
    if (media) div.append(media);
    const caption = m[m.type]?.caption;
    if (media && caption) div.append(el("span", { className: "text" }, formatted(caption)));
    if (!media) div.append(renderBody(m));
    const emojis = Object.values(reactions.get(m.id) || {}).filter(Boolean);
    if (emojis.length) div.append(el("span", { className: "reactions", textContent: emojis.join(" ") }));
    div.dataset.id = m.id;
    if (m.kapso.direction === "outbound") {
      div.append(
        el("span", { className: `ticks ${m.kapso.status}`, textContent: TICKS[m.kapso.status] || "" }),
        failure(m),
      );
    }
    box.append(div);
  }
  box.scrollTop = box.scrollHeight;
  renderComposer();
  renderDetails();
}

// ---- composer -----------------------------------------------------------------------------

const windowOpen = (c) =>
  !!c.service_window_expires_at && Date.parse(c.service_window_expires_at) > Date.now();

/**
 * Inside the 24-hour window an active conversation gets the text and file composer (an ended
 * one a note: reopen it to reply). Outside it only templates may be sent: the note and picker.
 */
function renderComposer() {
  const c = state.current;
  const open = !!c && windowOpen(c);
  $("composer").hidden = !c || !open || c.status !== "active";
  $("ended").hidden = !c || !open || c.status === "active";
  $("templates").hidden = !c || open;
  if (c && !open && state.templates?.conversationId !== c.id) loadTemplates(c.id);
}

async function loadTemplates(id) {
  state.templates = { conversationId: id, list: [] };
  const select = $("template");
  select.replaceChildren();
  try {
    state.templates.list = (await api(`/conversations/${id}/templates`)).data;
  } catch (err) {
    $("window-note").textContent = err.message;
  }
  if (state.templates.conversationId !== id) return;
  for (const [i, tpl] of state.templates.list.entries()) {
    select.append(el("option", { value: String(i), textContent: `${tpl.name} (${tpl.language})` }));
  }
  $("send-template").disabled = state.templates.list.length === 0;
  if (!state.templates.list.length)
    select.append(el("option", { textContent: t.no_templates, disabled: true }));
  renderTemplate();
}

function chosenTemplate() {
  return state.templates?.list[Number($("template").value)];
}

/** The parameter inputs of the chosen template, and its text with the values filled in. */
function renderTemplate() {
  const tpl = chosenTemplate();
  const box = $("template-params");
  box.replaceChildren();
  if (!tpl) {
    $("template-preview").textContent = "";
    return;
  }
  // A media header is filled with a file of the header's kind.
  const accept = { IMAGE: "image/jpeg,image/png", VIDEO: "video/mp4,video/3gpp", DOCUMENT: "" };
  if (tpl.header_format in accept) {
    const file = el("input", { type: "file", id: "template-file", required: true, title: t.header_file });
    if (accept[tpl.header_format]) file.accept = accept[tpl.header_format];
    box.append(file);
  }
  for (const [part, count] of [
    ["header", tpl.header_parameters],
    ["body", tpl.body_parameters],
  ]) {
    for (let i = 1; i <= count; i++) {
      const input = el("input", { required: true, placeholder: `${t[part]} {{${i}}}` });
      input.dataset.part = part;
      input.oninput = preview;
      box.append(input);
    }
  }
  preview();
}

/** What was typed for the chosen template's `header` or `body` parameters. */
const values = (part) =>
  [...$("template-params").querySelectorAll(`input[data-part=${part}]`)].map((i) => i.value);

function preview() {
  const tpl = chosenTemplate();
  const fill = (text, part) => {
    if (!text) return "";
    const given = values(part);
    let n = 0;
    const seen = new Map();
    // Placeholders are numbered or named; each distinct one takes the next value, as Meta counts them.
    return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, key) => {
      if (!seen.has(key)) seen.set(key, n++);
      return given[seen.get(key)] || whole;
    });
  };
  $("template-preview").textContent = [fill(tpl.header, "header"), fill(tpl.body, "body")]
    .filter(Boolean)
    .join("\n\n");
}

/**
 * After a send: the thread again, or the new conversation a template opened (the contact's
 * last one had ended). That one is on the same number, so the template picker keeps its list
 * and the agent's choice instead of loading them again under the agent's hands.
 */
async function sent(data) {
  if (data.conversation_id === state.selected) return loadThread();
  const templates = state.templates && { ...state.templates, conversationId: data.conversation_id };
  await select(data.conversation_id, templates);
}

// ---- details panel ------------------------------------------------------------------------

function renderDetails() {
  const c = state.current;
  $("details").hidden = !c;
  if (!c) return;
  const input = $("display-name");
  // Never overwrite what the user is typing.
  if (document.activeElement !== input) input.value = c.contact.display_name || "";
  input.placeholder = c.contact.profile_name || c.phone_number || "";
  $("profile").textContent = c.contact.profile_name || "—";
  $("phone").textContent = c.phone_number ? `+${c.phone_number}` : "—";
  const number = c.business_number;
  $("number").textContent = [number.name, number.display_phone_number].filter(Boolean).join(" · ") || "—";
  $("conversation-status").textContent = t[c.status];
  $("toggle-status").textContent = c.status === "active" ? t.end : t.reopen;
}

/** A conversation the page changed itself: keep list, thread and details in step. */
function conversationChanged(c) {
  state.current = c;
  upsertConversation(c);
  renderList();
  renderThread();
  post("conversation_updated");
}

async function loadThread() {
  if (!state.selected) return renderThread();
  const id = state.selected;
  const page = await api(`/conversations/${id}/messages`);
  if (id !== state.selected) return;
  state.messages = page.data;
  renderThread();
}

/** A message pushed live for the open thread. */
function upsertMessage(m) {
  const at = state.messages.findIndex((x) => x.id === m.id);
  if (at !== -1) {
    state.messages[at] = m;
  } else if (m.kapso.direction === "outbound") {
    // An outbound message changes id when Meta names it (our id → wamid): read the thread again.
    return loadThread();
  } else {
    state.messages.unshift(m);
    state.messages.sort((a, b) => Number(b.timestamp) - Number(a.timestamp));
  }
  renderThread();
}

async function markRead(id) {
  await api(`/conversations/${id}/read`, { method: "POST", body: "{}" });
  for (const c of [state.current, state.conversations.find((x) => x.id === id)]) if (c) c.unread_count = 0;
  renderList();
  post("read_state_changed");
}

async function select(id, templates = null) {
  state.selected = id;
  state.templates = templates;
  clearFile();
  $("rename-note").textContent = "";
  state.messages = [];
  state.current = state.conversations.find((c) => c.id === id) || (await api(`/conversations/${id}`)).data;
  renderList();
  await loadThread();
  post("conversation_selected");
  await markRead(id);
}

// ---- live updates -------------------------------------------------------------------------

function setConnection(status) {
  $("dot").className = status === "live" ? "on" : status === "connecting" ? "wait" : "";
  $("conn-text").textContent = t[status];
  $("conn").dataset.state = status;
}

async function onEvent(push) {
  const c = push.conversation;
  upsertConversation(c);
  renderList();
  if (c.id === state.selected) {
    state.current = c;
    if (push.message) await upsertMessage(push.message);
    else renderThread();
    // The open conversation is being read: what arrives in it is not unread.
    if (c.unread_count > 0 && document.visibilityState === "visible") await markRead(c.id);
  }
  post("conversation_updated");
}

/** After a reconnect: what changed while the page was not listening. */
async function catchUp(since) {
  const from = new Date(Date.parse(since) - CATCH_UP_MARGIN_MS).toISOString();
  const changed = await api(`/conversations?status=all&limit=100&updated_after=${encodeURIComponent(from)}`);
  if (changed.paging.next) {
    await loadList();
  } else {
    for (const c of changed.data) {
      upsertConversation(c);
      if (c.id === state.selected) state.current = c;
    }
    renderList();
  }
  await loadThread();
  if (state.current?.unread_count > 0) await markRead(state.current.id);
  post("conversation_updated");
}

let attempt = 0;
function connect() {
  setConnection("connecting");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(
    `${scheme}//${location.host}/embed/api/ws?token=${encodeURIComponent(boot.token)}`,
  );
  let silence;
  const listen = () => {
    clearTimeout(silence);
    silence = setTimeout(() => socket.close(), SILENCE_MS);
  };
  socket.onmessage = async (e) => {
    listen();
    const push = JSON.parse(e.data);
    const previous = state.since;
    state.since = push.at;
    if (push.type === "ready") {
      attempt = 0;
      setConnection("live");
      if (previous) await catchUp(previous);
    } else if (push.type === "event") {
      await onEvent(push);
    }
  };
  socket.onclose = (e) => {
    clearTimeout(silence);
    if (e.code === 4401) {
      setConnection("revoked");
      return;
    }
    setConnection("offline");
    // Exponential backoff with jitter: 1 s, 2 s, 4 s … up to 30 s.
    const delay = Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setTimeout(connect, delay);
  };
}

// ---- filters and composer ----------------------------------------------------------------

$("search").placeholder = t.search;
$("search").value = state.filters.search;
for (const s of ["active", "ended", "all"]) {
  $("status").append(el("option", { value: s, textContent: t[s], selected: s === state.filters.status }));
}
$("unread-label").textContent = t.unread;
$("handoff-label").textContent = t.handoff;
$("unread").checked = state.filters.unread;
$("handoff").checked = state.filters.handoff;

async function filtersChanged() {
  await loadList();
  post("filters_changed");
}
$("status").onchange = (e) => {
  state.filters.status = e.target.value;
  filtersChanged();
};
$("search").oninput = (e) => {
  state.filters.search = e.target.value;
  filtersChanged();
};
$("unread").onchange = (e) => {
  state.filters.unread = e.target.checked;
  filtersChanged();
};
$("handoff").onchange = (e) => {
  state.filters.handoff = e.target.checked;
  filtersChanged();
};

$("ended").textContent = t.ended_note;
$("details-title").textContent = t.details;
$("display-name-label").textContent = t.display_name;
$("save-name").textContent = t.save;
$("profile-label").textContent = t.profile_name;
$("phone-label").textContent = t.phone;
$("number-label").textContent = t.business_number;
$("status-label").textContent = t.status;
$("rename").onsubmit = async (e) => {
  e.preventDefault();
  const id = state.selected;
  const note = $("rename-note");
  try {
    const body = JSON.stringify({ display_name: $("display-name").value });
    const { data } = await api(`/conversations/${id}/contact`, { method: "PATCH", body });
    note.textContent = t.saved;
    $("display-name").blur();
    if (id === state.selected) conversationChanged(data);
  } catch (err) {
    note.textContent = err.message;
  }
};
$("toggle-status").onclick = async () => {
  const c = state.current;
  const body = JSON.stringify({ status: c.status === "active" ? "ended" : "active" });
  try {
    conversationChanged((await api(`/conversations/${c.id}`, { method: "PATCH", body })).data);
  } catch (err) {
    $("rename-note").textContent = err.message;
  }
};

$("text").placeholder = t.placeholder;
$("send").textContent = t.send;
$("attach").title = t.attach;
$("remove-file").title = t.remove_file;
$("window-note").textContent = t.window_closed;
$("template").title = t.template;
$("send-template").textContent = t.send_template;

function showError(err) {
  $("messages").append(el("div", { className: "note error", textContent: err.message }));
}

function clearFile() {
  $("file").value = "";
  $("attachment").hidden = true;
}
$("file").onchange = () => {
  const file = $("file").files[0];
  $("attachment").hidden = !file;
  $("file-name").textContent = file ? file.name : "";
};
$("remove-file").onclick = clearFile;

$("composer").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  const file = $("file").files[0];
  const id = state.selected;
  if ((!text && !file) || !id) return;
  $("text").value = "";
  clearFile();
  try {
    if (file) {
      const form = new FormData();
      if (text) form.append("caption", text);
      form.append("file", file);
      await sent((await api(`/conversations/${id}/media`, { method: "POST", body: form })).data);
    } else {
      const body = JSON.stringify({ text });
      await sent((await api(`/conversations/${id}/messages`, { method: "POST", body })).data);
    }
  } catch (err) {
    await loadThread();
    showError(err);
  }
};

$("template").onchange = renderTemplate;
$("templates").onsubmit = async (e) => {
  e.preventDefault();
  const tpl = chosenTemplate();
  if (!tpl || !state.selected) return;
  let body;
  const file = $("template-file")?.files[0];
  if (file) {
    body = new FormData();
    body.append("name", tpl.name);
    body.append("language", tpl.language);
    for (const value of values("body")) body.append("body_parameters", value);
    body.append("file", file);
  } else {
    const choice = { name: tpl.name, language: tpl.language };
    if (tpl.header_parameters) choice.header_parameters = values("header");
    if (tpl.body_parameters) choice.body_parameters = values("body");
    body = JSON.stringify(choice);
  }
  try {
    const path = `/conversations/${state.selected}/template`;
    await sent((await api(path, { method: "POST", body })).data);
    renderTemplate();
  } catch (err) {
    showError(err);
  }
};
// The window closes while the page is open: look again every minute.
setInterval(() => state.current && renderComposer(), 60_000);

async function start() {
  setConnection("connecting");
  await loadList();
  if (state.selected) {
    await select(state.selected).catch(() => {
      state.selected = null;
      state.current = null;
      renderList();
      renderThread();
    });
  } else {
    renderThread();
  }
  post("ready");
  connect();
}
start();
