import { createHash } from "node:crypto";
import fs from "node:fs";
import { gzipSync } from "node:zlib";

/** What the page needs to start; injected as JSON (escaped so it cannot close the script). */
export interface EmbedBootstrap {
  token: string;
  language: "en" | "es";
  mode: "system" | "light" | "dark";
  /** Initial filters from the URL. */
  filters: {
    status: "active" | "ended" | "all";
    search: string;
    unread: boolean;
    handoff: boolean;
    phone_number_id: string | null;
  };
  /** Conversation to open first (`conversation_id`). */
  conversationId: string | null;
  /** The embed lists allowed origins: state messages go to the host's origin only, never `*`. */
  restrictHost: boolean;
}

const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

export const STRINGS = {
  en: {
    search: "Search",
    active: "Active",
    ended: "Ended",
    all: "All",
    unread: "Unread",
    handoff: "Waiting",
    empty: "No conversations",
    loading: "Loading…",
    pick: "Select a conversation",
    placeholder: "Type a message",
    send: "Send",
    ended_note: "This conversation has ended",
    attach: "Attach a file",
    remove_file: "Remove the file",
    window_closed:
      "More than 24 hours have passed since the contact's last message, so WhatsApp only allows an approved template. Pick one to write to them again.",
    template: "Template",
    send_template: "Send template",
    no_templates: "This number has no approved templates",
    header: "Header",
    header_file: "File for the header",
    open_map: "Open map",
    flow_response: "Form answered",
    body: "Body",
    details: "Details",
    display_name: "Name",
    save: "Save",
    saved: "Saved",
    profile_name: "WhatsApp name",
    phone: "Phone",
    business_number: "Number",
    status: "Status",
    end: "End conversation",
    reopen: "Reopen conversation",
    live: "Live",
    connecting: "Connecting…",
    offline: "Offline, retrying",
    revoked: "This inbox link is no longer valid",
    unauthorized: "This inbox link is invalid, revoked or expired.",
  },
  es: {
    search: "Buscar",
    active: "Activas",
    ended: "Finalizadas",
    all: "Todas",
    unread: "No leídas",
    handoff: "En espera",
    empty: "No hay conversaciones",
    loading: "Cargando…",
    pick: "Selecciona una conversación",
    placeholder: "Escribe un mensaje",
    send: "Enviar",
    ended_note: "Esta conversación ha finalizado",
    attach: "Adjuntar un archivo",
    remove_file: "Quitar el archivo",
    window_closed:
      "Han pasado más de 24 horas desde el último mensaje del contacto, así que WhatsApp solo permite una plantilla aprobada. Elige una para volver a escribirle.",
    template: "Plantilla",
    send_template: "Enviar plantilla",
    no_templates: "Este número no tiene plantillas aprobadas",
    header: "Encabezado",
    header_file: "Archivo para el encabezado",
    open_map: "Abrir mapa",
    flow_response: "Formulario respondido",
    body: "Cuerpo",
    details: "Detalles",
    display_name: "Nombre",
    save: "Guardar",
    saved: "Guardado",
    profile_name: "Nombre en WhatsApp",
    phone: "Teléfono",
    business_number: "Número",
    status: "Estado",
    end: "Finalizar conversación",
    reopen: "Reabrir conversación",
    live: "En vivo",
    connecting: "Conectando…",
    offline: "Sin conexión, reintentando",
    revoked: "Este enlace de bandeja ya no es válido",
    unauthorized: "Este enlace de bandeja no es válido, fue revocado o expiró.",
  },
};

const STYLE = `
:root{--bg:#fff;--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--out:#dcfce7;--in:#f1f5f9;--accent:#16a34a;--warn:#b45309}
:root[data-theme=dark]{--bg:#0b1220;--fg:#e2e8f0;--muted:#94a3b8;--line:#1e293b;--out:#14532d;--in:#1e293b;--accent:#22c55e;--warn:#f59e0b}
[hidden]{display:none!important}*{box-sizing:border-box}body{margin:0;font:14px system-ui,sans-serif;background:var(--bg);color:var(--fg);height:100vh;display:flex}
#list{width:320px;border-right:1px solid var(--line);display:flex;flex-direction:column}
#filters{display:flex;flex-wrap:wrap;gap:4px;padding:8px;align-items:center}#filters input[type=search]{flex:1 1 100%;min-width:0}
input,select,button,textarea{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:6px}
.toggle{display:flex;gap:4px;align-items:center;color:var(--muted);font-size:13px}
#conversations{overflow:auto;flex:1;margin:0;padding:0;list-style:none}
#conversations li{padding:10px;border-bottom:1px solid var(--line);cursor:pointer}#conversations li.selected{background:var(--in)}
#conversations li.more{cursor:default;border:0}
.name{font-weight:600}.preview{color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.badge{float:right;background:var(--accent);color:#fff;border-radius:9px;padding:0 6px;font-size:12px}
#thread{flex:1;display:flex;flex-direction:column;min-width:0}#messages{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:70%;padding:6px 10px;border-radius:8px;background:var(--in);overflow-wrap:anywhere}.msg.outbound{align-self:flex-end;background:var(--out)}
.media{display:block;max-width:100%;max-height:320px;border-radius:6px;margin-bottom:4px}
.ticks{font-size:11px;color:var(--muted);margin-left:6px}.ticks.read{color:#2563eb}.ticks.failed{color:#dc2626}
.error{display:block;font-size:12px;color:#dc2626}
.text{white-space:pre-wrap}code{font-family:ui-monospace,monospace;font-size:13px}code.block{display:block;white-space:pre-wrap}
.reactions{display:inline-block;margin-left:6px;font-size:13px;background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:0 4px}
.choice{display:block;margin-top:4px;padding:2px 6px;border:1px solid var(--line);border-radius:6px;text-align:center;font-size:13px}
.contact{display:block}.phone{color:var(--muted)}.msg a{color:var(--accent)}
#composer{display:flex;flex-wrap:wrap;gap:6px;padding:8px;border-top:1px solid var(--line)}#composer textarea{flex:1;resize:none;height:40px}
#attach{cursor:pointer;border:1px solid var(--line);border-radius:6px;padding:6px 8px;display:flex;align-items:center}
#attachment{flex-basis:100%;font-size:12px;color:var(--muted);display:flex;gap:6px;align-items:center}#attachment button{padding:0 6px}
#templates{display:flex;flex-direction:column;gap:6px;padding:8px;border-top:1px solid var(--line)}
#templates p{margin:0;color:var(--warn);font-size:13px}#template-preview{white-space:pre-wrap;color:var(--muted);font-size:13px}
#template-params{display:flex;flex-direction:column;gap:4px}
#conn{display:flex;align-items:center;gap:4px;font-size:12px;color:var(--muted);width:100%}
#dot{width:8px;height:8px;border-radius:4px;background:#dc2626;display:inline-block}#dot.on{background:var(--accent)}#dot.wait{background:var(--warn)}
.note{padding:12px;color:var(--muted)}
#details{width:260px;border-left:1px solid var(--line);padding:12px;display:flex;flex-direction:column;gap:10px;overflow:auto}
#details h2{font-size:15px;margin:0}#details dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 8px}
#details dt{color:var(--muted)}#details dd{margin:0;overflow-wrap:anywhere}
#rename{display:flex;flex-direction:column;gap:4px}#rename div{display:flex;gap:4px}#rename input{flex:1;min-width:0}
#rename-note{font-size:12px;color:var(--muted);min-height:1em}`;

const CLIENT = fs.readFileSync(new URL("./client/inbox.js", import.meta.url));

/**
 * The page's script, served as its own file so browsers cache it: its URL carries a hash of
 * its content (`/embed/assets/inbox.<hash>.js`), and it is gzipped once at start.
 */
export const clientScript = {
  path: `/embed/assets/inbox.${createHash("sha256").update(CLIENT).digest("hex").slice(0, 12)}.js`,
  body: CLIENT,
  gzipped: gzipSync(CLIENT, { level: 9 }),
};

/** The inbox page: a small self-contained app (no build step) calling the embed API. */
export function embedPage(boot: EmbedBootstrap): string {
  const bootstrap = { ...boot, strings: STRINGS[boot.language] };
  return `<!doctype html><html lang="${boot.language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Inbox</title><style>${STYLE}</style></head>
<body><aside id="list"><div id="filters"><div id="conn"><span id="dot"></span><span id="conn-text"></span></div>
<input id="search" type="search"><select id="status"></select>
<label class="toggle"><input id="unread" type="checkbox"><span id="unread-label"></span></label>
<label class="toggle"><input id="handoff" type="checkbox"><span id="handoff-label"></span></label></div>
<ul id="conversations"></ul></aside>
<main id="thread"><div id="messages"></div><div id="ended" class="note" hidden></div>
<form id="composer" hidden><label id="attach"><input id="file" type="file" hidden>📎</label><textarea id="text"></textarea><button id="send" type="submit"></button>
<div id="attachment" hidden><span id="file-name"></span><button id="remove-file" type="button">×</button></div></form>
<form id="templates" hidden><p id="window-note"></p><select id="template"></select><div id="template-preview"></div>
<div id="template-params"></div><button id="send-template" type="submit"></button></form></main>
<aside id="details" hidden><h2 id="details-title"></h2>
<form id="rename"><label for="display-name" id="display-name-label"></label><div><input id="display-name" maxlength="255"><button id="save-name" type="submit"></button></div><span id="rename-note"></span></form>
<dl><dt id="profile-label"></dt><dd id="profile"></dd><dt id="phone-label"></dt><dd id="phone"></dd>
<dt id="number-label"></dt><dd id="number"></dd><dt id="status-label"></dt><dd id="conversation-status"></dd></dl>
<button id="toggle-status" type="button"></button></aside>
<script type="application/json" id="boot">${json(bootstrap)}</script>
<script src="${clientScript.path}" defer></script></body></html>`;
}

/** Shown for an unknown, revoked or expired token (with status 401). */
export function unauthorizedPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Inbox unavailable</title></head>
<body style="font:15px system-ui,sans-serif;padding:2em"><p>${STRINGS.en.unauthorized}</p><p lang="es">${STRINGS.es.unauthorized}</p></body></html>`;
}
