import { THEME_KEYS } from "../modules/setup-links/schemas.ts";
import { SETUP_STRINGS, type SetupLanguage, type SetupStrings } from "./strings.ts";

// The hosted onboarding page at a setup link's `url`: server-rendered, self-contained (inline
// CSS and script, no build step), themed with the link's `theme_config`.

const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Kapso's defaults for the 12 theme keys (`card_color` follows `background_color`). */
const THEME_DEFAULTS: Record<(typeof THEME_KEYS)[number], string> = {
  primary_color: "#22c55e",
  primary_foreground_color: "#ffffff",
  background_color: "#ffffff",
  text_color: "#0f172a",
  muted_text_color: "#64748b",
  card_color: "#ffffff",
  muted_color: "#f1f5f9",
  border_color: "#e2e8f0",
  secondary_color: "#f1f5f9",
  secondary_foreground_color: "#0f172a",
  destructive_color: "#ef4444",
  destructive_foreground_color: "#fef2f2",
};

/** CSS custom properties (`--primary-color: …`) for the link's theme over the defaults. */
function themeCss(theme: Record<string, string> | null): string {
  const given = (key: string) => {
    const value = theme?.[key];
    return typeof value === "string" && /^#[0-9a-f]{6}$/i.test(value) ? value : undefined;
  };
  const vars = THEME_KEYS.map((key) => {
    const fallback =
      key === "card_color" ? (given("background_color") ?? THEME_DEFAULTS[key]) : THEME_DEFAULTS[key];
    return `--${key.replace(/_/g, "-")}:${given(key) ?? fallback}`;
  });
  return `:root{${vars.join(";")}}`;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px;
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--background-color);color:var(--text-color)}
.card{width:100%;max-width:460px;background:var(--card-color);border:1px solid var(--border-color);border-radius:12px;padding:28px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:0 0 8px}
.muted{color:var(--muted-text-color)}
input[type=radio]{accent-color:var(--primary-color)}
fieldset{border:0;padding:0;margin:20px 0 0}legend{font-weight:600;margin-bottom:8px}
.option{display:flex;gap:10px;align-items:flex-start;border:1px solid var(--border-color);border-radius:8px;padding:10px 12px;margin-bottom:8px;cursor:pointer}
.option small{display:block;color:var(--muted-text-color)}
.option:has(input:checked){border-color:var(--primary-color)}
.actions{display:flex;flex-direction:column;gap:10px;margin-top:22px}
button,.button{font:inherit;font-weight:600;border-radius:8px;padding:10px 14px;border:1px solid transparent;cursor:pointer;text-align:center;text-decoration:none}
button:disabled{background:var(--muted-color)!important;color:var(--muted-text-color)!important;cursor:default}
.primary{background:var(--primary-color);color:var(--primary-foreground-color)}
.secondary{background:var(--secondary-color);color:var(--secondary-foreground-color);border-color:var(--border-color)}
.note{font-size:13px;color:var(--muted-text-color);margin:0}
#status{min-height:1.5em;margin:16px 0 0}
.error{color:var(--destructive-color)}
.banner{background:var(--destructive-color);color:var(--destructive-foreground-color);border-radius:8px;padding:10px 12px}
.overlay{position:fixed;inset:0;background:rgba(15,23,42,.45);display:flex;align-items:center;justify-content:center;padding:24px}
.overlay[hidden]{display:none}
select{font:inherit;width:100%;padding:8px;border-radius:8px;border:1px solid var(--border-color);background:var(--card-color);color:var(--text-color)}`;

const SCRIPT = `
const boot = JSON.parse(document.getElementById("boot").textContent);
const t = boot.strings;
const $ = (id) => document.getElementById(id);
const endpoint = location.pathname.replace(/\\/+$/, "");
const buttons = () => document.querySelectorAll("main button");
function type() { const c = document.querySelector("input[name=type]:checked"); return c ? c.value : boot.types[0]; }
function busy(on) { for (const b of buttons()) b.disabled = on; }
function say(text, isError) { $("status").textContent = text; $("status").className = isError ? "error" : ""; }
function follow(result, completed) {
  if (result.redirect_url) { say(t.redirecting); location.assign(result.redirect_url); return; }
  busy(false);
  if (completed) { say(t.done.replace("{number}", result.display_phone_number || "")); for (const b of buttons()) b.hidden = true; $("types") && ($("types").hidden = true); }
  else say(t.failed + (result.error ? " " + result.error : ""), true);
}
async function post(path, body) {
  busy(true); say(t.working);
  try {
    const response = await fetch(endpoint + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const result = await response.json().catch(() => ({}));
    const data = response.ok ? result.data || {} : result;
    follow(data, response.ok && data.status === "completed");
  } catch (err) { busy(false); say(t.failed, true); }
}
const complete = (body) => post("/complete", Object.assign({ connection_type: type() }, body));
const abandon = (error_code, message) => post("/fail", message ? { error_code, message } : { error_code });

if (boot.meta) {
  let session = {};
  window.fbAsyncInit = function () { FB.init({ appId: boot.meta.appId, autoLogAppEvents: true, xfbml: true, version: boot.meta.graphVersion }); };
  const sdk = document.createElement("script");
  sdk.src = "https://connect.facebook.net/en_US/sdk.js"; sdk.async = true; sdk.defer = true; sdk.crossOrigin = "anonymous";
  document.head.append(sdk);
  // Meta's Embedded Signup reports the WABA and number it set up (or a cancel / an error) by message.
  addEventListener("message", (event) => {
    let host = ""; try { host = new URL(event.origin).hostname; } catch (err) { return; }
    if (host !== "facebook.com" && !host.endsWith(".facebook.com")) return;
    let data = event.data; try { if (typeof data === "string") data = JSON.parse(data); } catch (err) { return; }
    if (!data || data.type !== "WA_EMBEDDED_SIGNUP") return;
    const info = data.data || {};
    if (String(data.event).startsWith("FINISH")) session = { phone_number_id: info.phone_number_id, business_account_id: info.waba_id };
    else if (data.event === "CANCEL") session = { cancelled: true };
    else if (data.event === "ERROR") session = { error: String(info.error_message || "") };
  });
  $("connect").onclick = () => {
    if (!window.FB) { say(t.failed, true); return; }
    session = {};
    FB.login(function (response) {
      const code = response && response.authResponse && response.authResponse.code;
      // The session message may trail the login callback by a moment.
      setTimeout(function () {
        if (code) {
          const ids = {};
          if (session.business_account_id) ids.business_account_id = String(session.business_account_id);
          if (session.phone_number_id) ids.phone_number_id = String(session.phone_number_id);
          complete(Object.assign({ code }, ids));
        } else if (session.error) {
          abandon(/limit|maximum|too many/i.test(session.error) ? "waba_limit_reached" : "facebook_auth_failed", session.error);
        } else abandon("facebook_auth_failed");
      }, session.business_account_id || session.error ? 0 : 800);
    }, { config_id: boot.meta.configurationId, response_type: "code", override_default_response_type: true,
      extras: { setup: {}, featureType: type() === "coexistence" ? "whatsapp_business_app_onboarding" : "", sessionInfoVersion: "3" } });
  };
}

if (boot.sandbox) {
  const random = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const CODES = { success: "sandbox-", pin: "sandbox-pin-mismatch-", token: "sandbox-expired-", no_waba: "sandbox-no-waba-" };
  $("simulate").onclick = () => { $("dialog").hidden = false; $("outcome").focus(); };
  $("dialog-cancel").onclick = () => { $("dialog").hidden = true; abandon("facebook_auth_failed", "The customer cancelled the simulated signup"); };
  $("dialog-continue").onclick = () => {
    $("dialog").hidden = true;
    const outcome = $("outcome").value;
    if (outcome === "limit") return abandon("waba_limit_reached", "Simulated signup: too many WhatsApp accounts");
    complete({ code: (CODES[outcome] || "sandbox-") + random(), simulated: true });
  };
}`;

function head(language: SetupLanguage, title: string, theme: Record<string, string> | null, extra = "") {
  return `<!doctype html><html lang="${language}"${language === "ar" ? ' dir="rtl"' : ""}><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>${extra}<style>${themeCss(theme)}${STYLE}</style></head>`;
}

export interface SetupPageOptions {
  language: SetupLanguage;
  theme: Record<string, string> | null;
  connectionTypes: ("coexistence" | "dedicated")[];
  customerName: string | null;
  /** Meta's Embedded Signup, when Parley is configured for it. */
  meta: { appId: string; configurationId: string; graphVersion: string } | null;
  /** The sandbox's simulated signup. */
  sandbox: boolean;
}

/** The page of an active link. */
export function setupPage(o: SetupPageOptions): string {
  const t: SetupStrings = SETUP_STRINGS[o.language];
  const e = escapeHtml;
  const intro = o.customerName ? t.intro.replace("{customer}", o.customerName) : t.intro_plain;
  // Dedicated first: the usual choice. A single allowed type is chosen for the customer.
  const types = (["dedicated", "coexistence"] as const).filter((type) => o.connectionTypes.includes(type));
  const choice =
    types.length > 1
      ? `<fieldset id="types"><legend>${e(t.choose)}</legend>${types
          .map(
            (type, i) =>
              `<label class="option"><input type="radio" name="type" value="${type}"${i === 0 ? " checked" : ""}><span><b>${e(t[type])}</b><small>${e(t[`${type}_text`])}</small></span></label>`,
          )
          .join("")}</fieldset>`
      : "";
  const actions: string[] = [];
  if (o.meta) actions.push(`<button id="connect" class="primary" type="button">${e(t.connect)}</button>`);
  if (o.sandbox) {
    actions.push(
      `<button id="simulate" class="${o.meta ? "secondary" : "primary"}" type="button">${e(t.simulate)}</button>`,
      `<p class="note">${e(t.sandbox_note)}</p>`,
    );
  }
  if (!actions.length) actions.push(`<p class="banner">${e(t.not_configured)}</p>`);
  const dialog = o.sandbox
    ? `<div id="dialog" class="overlay" role="dialog" aria-modal="true" aria-labelledby="dialog-title" hidden><div class="card">
<h2 id="dialog-title">${e(t.dialog_title)}</h2><p class="muted">${e(t.dialog_text)}</p>
<select id="outcome">${(
        [
          ["success", t.outcome_success],
          ["pin", t.outcome_pin],
          ["limit", t.outcome_limit],
          ["token", t.outcome_token],
          ["no_waba", t.outcome_no_waba],
        ] as const
      )
        .map(([value, label]) => `<option value="${value}">${e(label)}</option>`)
        .join("")}</select>
<div class="actions"><button id="dialog-continue" class="primary" type="button">${e(t.continue)}</button>
<button id="dialog-cancel" class="secondary" type="button">${e(t.cancel)}</button></div></div></div>`
    : "";
  const boot = {
    types,
    meta: o.meta,
    sandbox: o.sandbox,
    strings: { working: t.working, done: t.done, failed: t.failed, redirecting: t.redirecting },
  };
  return `${head(o.language, t.title, o.theme)}
<body><main class="card"><h1>${e(t.title)}</h1><p class="muted">${e(intro)}</p>${choice}
<div class="actions">${actions.join("")}</div><p id="status" role="status" aria-live="polite"></p></main>${dialog}
<script type="application/json" id="boot">${json(boot)}</script><script>${SCRIPT}</script></body></html>`;
}

export interface UnavailablePageOptions {
  language: SetupLanguage;
  theme: Record<string, string> | null;
  reason: "unknown" | "used" | "expired";
  /** The failure redirect (with `error_code`): followed after a moment, and offered as a link. */
  redirectUrl: string | null;
}

/** The page of a link that cannot be used (unknown, used, expired or revoked). */
export function unavailablePage(o: UnavailablePageOptions): string {
  const t: SetupStrings = SETUP_STRINGS[o.language];
  const e = escapeHtml;
  const refresh = o.redirectUrl ? `<meta http-equiv="refresh" content="3;url=${e(o.redirectUrl)}">` : "";
  const next = o.redirectUrl
    ? `<div class="actions"><a id="continue" class="button primary" href="${e(o.redirectUrl)}">${e(t.continue)}</a></div>`
    : `<p class="muted">${e(t.ask)}</p>`;
  return `${head(o.language, t.title, o.theme, refresh)}
<body><main class="card"><h1>${e(t.title)}</h1><p id="reason" class="error">${e(t[o.reason])}</p>${next}</main></body></html>`;
}
