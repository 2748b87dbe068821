import { createHash, randomBytes, randomInt } from "node:crypto";
import type { AppContext } from "../context.ts";
import type { Database, Queryable } from "../db/database.ts";
import { batchedLookup, groupCommit } from "../db/group-commit.ts";
import type { MetaError } from "../whatsapp/graph-client.ts";
import {
  MAX_MEDIA_BYTES,
  MEDIA_LIMITS,
  normalizeMimeType,
  RESUMABLE_UPLOAD_TYPES,
} from "../whatsapp/media-types.ts";
import { metaError } from "../whatsapp/meta-errors.ts";
import { displayNameFields } from "./display-names.ts";
import { MetaHttpError, refuse, unknownObject } from "./errors.ts";
import { checkSend, checkTemplateParameters } from "./messages.ts";
import { DEFAULT_SANDBOX_WABA, isMetaId, newSandboxId, sandboxNumberProfile } from "./numbers.ts";
import { parseSignupToken, scenarioOfCode, signupNumberOf, signupToken } from "./signup.ts";
import * as store from "./store.ts";
import { enqueueStatuses, type StatusError, type StatusJob } from "./webhooks.ts";

// The behaviour of the sandbox's Graph API: Meta's answers for Meta's requests, backed by the
// sandbox_* tables. Routes (graph-routes.ts) only parse and answer.

type Body = Record<string, unknown>;

/** The WABA a number belongs to: its Parley record's, else the shared default sandbox WABA. */
async function wabaOf(db: Queryable, phoneNumberId: string): Promise<string> {
  return (await store.findKnownNumber(db, phoneNumberId))?.business_account_id ?? DEFAULT_SANDBOX_WABA;
}

function requireNumberId(phoneNumberId: string): void {
  if (!isMetaId(phoneNumberId)) unknownObject(phoneNumberId);
}

/** Meta's error body for an injected failure. */
function injectedError(failure: store.SandboxFailureRow): MetaHttpError {
  const { title: _title, ...fields } = failure.error;
  const error = {
    type: "OAuthException",
    ...fields,
    fbtrace_id: randomBytes(9).toString("base64url"),
  } as MetaError;
  return new MetaHttpError(failure.http_status, { error });
}

/** The `errors[]` item of a `failed` status for an injected failure. */
function injectedStatusError(failure: store.SandboxFailureRow): StatusError {
  const error = failure.error;
  const details = (error.error_data as { details?: string } | undefined)?.details ?? error.message;
  return {
    code: error.code,
    title: typeof error.title === "string" ? error.title : error.message,
    message: error.message,
    error_data: { details },
    href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
  };
}

/** Meta-looking message id (`wamid.` + Base64), unique per send. */
function newWamid(waId: string): string {
  return `wamid.${Buffer.from(`HBgL${waId}FQIAERgS${randomBytes(12).toString("hex").toUpperCase()}`).toString("base64")}`;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** An accepted send: its sandbox_sends row and the status webhooks it is owed. */
interface AcceptedSend {
  send: store.NewSend;
  statuses: StatusJob;
}

/**
 * Up to 100 sends in one transaction, two transactions at a time, so a burst batches up while
 * the writes are in flight.
 */
const SEND_BATCHING = { maxBatch: 100, parallel: 2 };

const sendRecorders = new WeakMap<AppContext, (accepted: AcceptedSend) => Promise<void>>();

/**
 * Records accepted sends with group commit: sends arriving together (a broadcast's sends in
 * flight) share one transaction, one insert of their rows and one insert of their status jobs,
 * so a send is never recorded without its statuses nor its statuses queued without the send.
 */
function recordSend(ctx: AppContext): (accepted: AcceptedSend) => Promise<void> {
  let record = sendRecorders.get(ctx);
  if (!record) {
    record = groupCommit<AcceptedSend>(
      ctx.db,
      async (tx, accepted) => {
        await store.insertSends(
          tx,
          accepted.map((a) => a.send),
        );
        await enqueueStatuses(
          ctx,
          tx,
          accepted.map((a) => a.statuses),
        );
      },
      SEND_BATCHING,
    );
    sendRecorders.set(ctx, record);
  }
  return record;
}

/** Template sends arriving together (a broadcast's) find their templates with one statement. */
const lookUpTemplateForSend = batchedLookup<store.TemplateSendKey, store.TemplateForSend>(
  async (db, keys) => {
    const found = await store.findTemplatesForSend(db, keys);
    return new Map(keys.map((key, i) => [key, found[i]!]));
  },
);

/**
 * Whether a number has an injected send failure left, for sends arriving together with one
 * statement: only then does a send try to take one (`consumeFailure` locks a row).
 */
const sendFailurePending = batchedLookup<string, true>(
  async (db, phoneNumberIds) =>
    new Map((await store.numbersWithPendingFailures(db, phoneNumberIds, "send")).map((id) => [id, true])),
);

/** `POST /{phone_number_id}/messages`: a send, a mark-as-read, or a typing indicator. */
export async function postMessages(ctx: AppContext, phoneNumberId: string, body: Body): Promise<unknown> {
  requireNumberId(phoneNumberId);
  if (body.status !== undefined) {
    if (body.messaging_product !== "whatsapp")
      refuse("invalidParameter", "The parameter messaging_product is required.");
    if (body.status !== "read") refuse("invalidParameter", "Invalid parameter", "status: must be read");
    if (typeof body.message_id !== "string" || !body.message_id) {
      refuse("invalidParameter", "The parameter message_id is required.");
    }
    const typing = body.typing_indicator as Body | undefined;
    if (typing !== undefined && (typeof typing !== "object" || typing === null || typing.type !== "text")) {
      refuse("invalidParameter", "Invalid parameter", "typing_indicator: type must be text");
    }
    return { success: true };
  }
  const checked = checkSend(body);
  for (const id of checked.mediaIds) {
    const media = await store.findMedia(ctx.db, id);
    if (!media || media.deleted_at) {
      refuse("invalidParameter", "Invalid parameter", `Media id ${id} does not exist`);
    }
  }
  let category = "service";
  if (checked.template) {
    const { name, language, components } = checked.template;
    const key = { phoneNumberId, name, language };
    let found = (await lookUpTemplateForSend(ctx.db, key))!;
    if (!found.seeded) {
      await seedTemplates(ctx.db, found.business_account_id);
      [found] = await store.findTemplatesForSend(ctx.db, [key]);
    }
    const { template } = found;
    if (!template) {
      refuse(
        "templateMissing",
        "Template name does not exist in the translation",
        `template name (${name}) does not exist in ${language}`,
      );
    }
    if (template.status !== "APPROVED") {
      refuse(
        "templateMissing",
        "Template name does not exist in the translation",
        `template name (${name}) in ${language} is ${template.status}, not APPROVED`,
      );
    }
    checkTemplateParameters(template.components, components);
    category = template.category.toLowerCase();
  }
  const failure = (await sendFailurePending(ctx.db, phoneNumberId))
    ? await store.consumeFailure(ctx.db, [phoneNumberId], "send")
    : undefined;
  if (failure?.mode === "sync") throw injectedError(failure);

  const wamid = newWamid(checked.waId);
  await recordSend(ctx)({
    send: { phone_number_id: phoneNumberId, wamid, recipient: checked.waId, type: checked.type, body },
    statuses: {
      phone_number_id: phoneNumberId,
      wamid,
      recipient: checked.waId,
      category,
      ...(failure ? { failure: injectedStatusError(failure) } : {}),
      ...(typeof body.biz_opaque_callback_data === "string"
        ? { biz_opaque_callback_data: body.biz_opaque_callback_data }
        : {}),
    },
  });
  return {
    messaging_product: "whatsapp",
    contacts: [{ input: body.to, wa_id: checked.waId }],
    messages: [{ id: wamid, ...(checked.template ? { message_status: "accepted" } : {}) }],
  };
}

// ---------------------------------------------------------------------------------------------
// Phone numbers, business profile, registration, WABA subscriptions
// ---------------------------------------------------------------------------------------------

const NUMBER_FIELDS = [
  "id",
  "display_phone_number",
  "verified_name",
  "quality_rating",
  "code_verification_status",
  "name_status",
  "platform_type",
  "throughput",
  "messaging_limit_tier",
  "status",
  "is_official_business_account",
  "is_pin_enabled",
  "account_mode",
  "health_status",
  "new_display_name",
  "new_name_status",
] as const;

/** Fields Meta returns only when asked for them by name. */
const ON_REQUEST_FIELDS: readonly string[] = ["health_status", "new_display_name", "new_name_status"];

function healthStatus(phoneNumberId: string, wabaId: string) {
  const entity = (entity_type: string, id: string) => ({ entity_type, id, can_send_message: "AVAILABLE" });
  return {
    can_send_message: "AVAILABLE",
    entities: [
      entity("PHONE_NUMBER", phoneNumberId),
      entity("WABA", wabaId),
      entity("BUSINESS", "sandbox-business"),
      entity("APP", "sandbox-app"),
    ],
  };
}

/** `GET /{phone_number_id}` with Meta's `fields=` selection. */
export async function getPhoneNumber(ctx: AppContext, phoneNumberId: string, fields?: string): Promise<Body> {
  requireNumberId(phoneNumberId);
  const failure = await store.consumeFailure(ctx.db, [phoneNumberId], "number");
  if (failure) throw injectedError(failure);
  const all: Body = {
    ...sandboxNumberProfile(phoneNumberId),
    health_status: healthStatus(phoneNumberId, await wabaOf(ctx.db, phoneNumberId)),
    ...(await displayNameFields(ctx.db, phoneNumberId)),
  };
  const requested = fields
    ? fields
        .split(",")
        .map((f) => f.trim())
        .filter(Boolean)
    : NUMBER_FIELDS.filter((f) => !ON_REQUEST_FIELDS.includes(f));
  const result: Body = {};
  for (const field of requested) {
    if (!(NUMBER_FIELDS as readonly string[]).includes(field)) {
      refuse(
        "invalidParameter",
        `Tried accessing nonexisting field (${field}) on node type (WhatsAppBusinessPhoneNumber)`,
      );
    }
    result[field] = all[field];
  }
  result.id = phoneNumberId;
  return result;
}

/**
 * `GET /{waba_id}/phone_numbers`: Parley's live numbers of that WABA; a WABA (numeric id) in
 * which Parley has none has one number derived from its id, the one a simulated Embedded
 * Signup hands over.
 */
export async function listWabaPhoneNumbers(ctx: AppContext, wabaId: string) {
  const known = (await store.listKnownNumbersOfWaba(ctx.db, wabaId)).map((n) => n.phone_number_id);
  const ids = known.length || !isMetaId(wabaId) ? known : [signupNumberOf(wabaId)];
  return {
    data: ids.map((id) => sandboxNumberProfile(id)),
    paging: { cursors: { before: "", after: "" } },
  };
}

/**
 * `POST /{phone_number_id}/register` (or `/deregister`). A business token from a simulated
 * signup with the `pin-mismatch` scenario is refused as Meta refuses a wrong two-step PIN.
 */
export async function register(
  ctx: AppContext,
  phoneNumberId: string,
  body: Body,
  on: boolean,
  token?: string,
) {
  requireNumberId(phoneNumberId);
  if (body.messaging_product !== "whatsapp")
    refuse("invalidParameter", "The parameter messaging_product is required.");
  if (on && (typeof body.pin !== "string" || !/^\d{6}$/.test(body.pin))) {
    refuse("invalidParameter", "The parameter pin is required.", "pin must be a 6-digit string");
  }
  if (on && parseSignupToken(token)?.scenario === "pin-mismatch") {
    throw new MetaHttpError(400, {
      error: {
        message: "(#133005) Two step verification PIN Mismatch",
        type: "OAuthException",
        code: 133005,
        error_data: { messaging_product: "whatsapp", details: "Two step verification PIN incorrect" },
        fbtrace_id: randomBytes(9).toString("base64url"),
      } as MetaError,
    });
  }
  await store.markRegistered(ctx.db, phoneNumberId, on);
  return { success: true };
}

const PROFILE_FIELDS = [
  "about",
  "address",
  "description",
  "email",
  "profile_picture_url",
  "websites",
  "vertical",
];

/** Meta's business categories (`vertical`). */
const VERTICALS = [
  "UNDEFINED",
  "OTHER",
  "AUTO",
  "BEAUTY",
  "APPAREL",
  "EDU",
  "ENTERTAIN",
  "EVENT_PLAN",
  "FINANCE",
  "GROCERY",
  "GOVT",
  "HOTEL",
  "HEALTH",
  "NONPROFIT",
  "PROF_SERVICES",
  "RETAIL",
  "TRAVEL",
  "RESTAURANT",
  "NOT_A_BIZ",
];

/** Meta's longest value for each text field of the profile. */
const PROFILE_LIMITS: Record<string, number> = { about: 139, address: 256, description: 512, email: 128 };

const isWebUrl = (value: unknown) =>
  typeof value === "string" &&
  value.length <= 256 &&
  URL.canParse(value) &&
  /^https?:$/.test(new URL(value).protocol);

export async function getBusinessProfile(ctx: AppContext, phoneNumberId: string, fields?: string) {
  requireNumberId(phoneNumberId);
  const stored = (await store.findNumberState(ctx.db, phoneNumberId))?.business_profile ?? {};
  const profile: Body = { messaging_product: "whatsapp", ...stored };
  if (fields) {
    const wanted = new Set(fields.split(",").map((f) => f.trim()));
    for (const field of wanted) {
      if (field !== "messaging_product" && !PROFILE_FIELDS.includes(field)) {
        refuse(
          "invalidParameter",
          `Tried accessing nonexisting field (${field}) on node type (WhatsAppBusinessProfile)`,
        );
      }
    }
    for (const key of Object.keys(profile))
      if (key !== "messaging_product" && !wanted.has(key)) delete profile[key];
  }
  return { data: [profile] };
}

export async function updateBusinessProfile(ctx: AppContext, phoneNumberId: string, body: Body) {
  requireNumberId(phoneNumberId);
  if (body.messaging_product !== "whatsapp")
    refuse("invalidParameter", "The parameter messaging_product is required.");
  const changes: Body = {};
  for (const key of PROFILE_FIELDS) {
    const value = body[key];
    if (value === undefined) continue;
    if (key === "websites") {
      if (!Array.isArray(value) || value.length > 2 || !value.every(isWebUrl)) {
        refuse(
          "invalidParameter",
          "Invalid parameter",
          "websites: at most 2 http(s) URLs of up to 256 characters",
        );
      }
    } else if (typeof value !== "string") {
      refuse("invalidParameter", "Invalid parameter", `${key}: must be a string`);
    } else if (key === "vertical" && !VERTICALS.includes(value)) {
      refuse("invalidParameter", "Invalid parameter", `vertical: must be one of ${VERTICALS.join(", ")}`);
    } else if (key === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) {
      refuse("invalidParameter", "Invalid parameter", "email: must be an email address");
    } else if (key === "profile_picture_url" && !isWebUrl(value)) {
      refuse("invalidParameter", "Invalid parameter", "profile_picture_url: must be an http(s) URL");
    }
    const limit = PROFILE_LIMITS[key];
    if (limit && ((value as string).length > limit || (key === "about" && (value as string).length < 1))) {
      refuse(
        "invalidParameter",
        "Invalid parameter",
        `${key}: must be ${key === "about" ? 1 : 0} to ${limit} characters`,
      );
    }
    changes[key] = value;
  }
  await store.mergeBusinessProfile(ctx.db, phoneNumberId, changes);
  return { success: true };
}

const SANDBOX_APP = { id: "sandbox-app", name: "Parley Sandbox", link: "https://github.com/parley" };

export async function subscribeApp(ctx: AppContext, wabaId: string, on: boolean) {
  await store.setWabaSubscribed(ctx.db, wabaId, on);
  return { success: true };
}

export async function listSubscribedApps(ctx: AppContext, wabaId: string) {
  const subscribed = await store.wabaSubscribedAt(ctx.db, wabaId);
  return { data: subscribed ? [{ whatsapp_business_api_data: SANDBOX_APP }] : [] };
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

const SEED_TEMPLATES: { name: string; category: string; components: Body[] }[] = [
  {
    name: "hello_world",
    category: "UTILITY",
    components: [
      { type: "HEADER", format: "TEXT", text: "Hello World" },
      {
        type: "BODY",
        text: "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us.",
      },
      { type: "FOOTER", text: "WhatsApp Business Platform sample message" },
    ],
  },
  {
    name: "seasonal_promotion",
    category: "MARKETING",
    components: [
      { type: "HEADER", format: "TEXT", text: "Our seasonal sale is on!" },
      {
        type: "BODY",
        text: "Shop now through {{1}} and use code {{2}} to get an exclusive discount.",
        example: { body_text: [["the end of August", "25OFF"]] },
      },
      { type: "FOOTER", text: "Reply STOP to opt out" },
    ],
  },
  {
    name: "order_update",
    category: "UTILITY",
    components: [
      {
        type: "BODY",
        text: "Your order {{1}} has been updated. Reply to this message if you have any questions.",
        example: { body_text: [["#12345"]] },
      },
    ],
  },
];

/** Template ids grow with time, so id order is creation order (and pages are stable). */
function newTemplateId(): string {
  return `${Date.now()}${String(randomInt(0, 1_000_000)).padStart(6, "0")}`;
}

/** Creates a WABA's seed templates the first time the sandbox sees it. */
export async function ensureSeedTemplates(db: Database, wabaId: string): Promise<void> {
  if (!(await store.templatesSeeded(db, wabaId))) await seedTemplates(db, wabaId);
}

/** Creates a WABA's seed templates unless another caller already has. */
async function seedTemplates(db: Database, wabaId: string): Promise<void> {
  // In one transaction, so a concurrent caller waits on the claim and then finds the seeds.
  await db.transaction(async (tx) => {
    if (!(await store.claimTemplateSeeding(tx, wabaId))) return;
    for (const seed of SEED_TEMPLATES) await insertSeed(tx, wabaId, seed);
  });
}

async function insertSeed(tx: Queryable, wabaId: string, seed: (typeof SEED_TEMPLATES)[number]) {
  await store.insertTemplate(tx, {
    id: newTemplateId(),
    business_account_id: wabaId,
    name: seed.name,
    language: "en_US",
    category: seed.category,
    status: "APPROVED",
    components: seed.components,
    rejected_reason: null,
  });
}

function presentTemplate(row: store.SandboxTemplateRow) {
  return {
    name: row.name,
    parameter_format: "POSITIONAL",
    components: row.components,
    language: row.language,
    status: row.status,
    category: row.category,
    id: row.id,
    ...(row.rejected_reason ? { rejected_reason: row.rejected_reason } : {}),
  };
}

const encodeTemplateCursor = (id: string) => Buffer.from(id).toString("base64");
function decodeTemplateCursor(cursor: string, name: string): string {
  const id = Buffer.from(cursor, "base64").toString("utf8");
  if (!/^\d+$/.test(id)) refuse("invalidParameter", "Invalid parameter", `${name}: not a valid cursor`);
  return id;
}

/** `GET /{waba_id}/message_templates` with Meta's filters and cursor paging. */
export async function listTemplates(
  ctx: AppContext,
  wabaId: string,
  query: Record<string, string | undefined>,
  url: URL,
) {
  await ensureSeedTemplates(ctx.db, wabaId);
  const limit = query.limit === undefined ? 25 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    refuse("invalidParameter", "Invalid parameter", "limit: must be an integer from 1 to 100");
  }
  if (query.after && query.before)
    refuse("invalidParameter", "Invalid parameter", "after and before cannot be combined");
  const afterId = query.after ? decodeTemplateCursor(query.after, "after") : undefined;
  const beforeId = query.before ? decodeTemplateCursor(query.before, "before") : undefined;
  const rows = await store.listTemplates(
    ctx.db,
    wabaId,
    { name: query.name, status: query.status, category: query.category, language: query.language },
    { limit, afterId, beforeId },
  );
  const more = rows.length > limit;
  let page = rows.slice(0, limit);
  if (beforeId) page = page.reverse();
  const data = page.map(presentTemplate);
  const paging: Body = {};
  if (page.length) {
    paging.cursors = {
      before: encodeTemplateCursor(page[0]!.id),
      after: encodeTemplateCursor(page.at(-1)!.id),
    };
    const link = (key: "after" | "before", cursor: string) => {
      const next = new URL(url);
      next.searchParams.delete("after");
      next.searchParams.delete("before");
      next.searchParams.set(key, cursor);
      return next.toString();
    };
    if (beforeId ? true : more) paging.next = link("after", encodeTemplateCursor(page.at(-1)!.id));
    if (beforeId ? more : Boolean(afterId))
      paging.previous = link("before", encodeTemplateCursor(page[0]!.id));
  }
  return { data, paging };
}

/** `GET /{template_id}`; `fields=` picks among the template's fields (`id` always comes). */
export async function getTemplate(ctx: AppContext, id: string, fields?: string) {
  const row = await store.findTemplateById(ctx.db, id);
  if (!row) return undefined;
  const template: Body = presentTemplate(row);
  if (!fields) return template;
  const picked: Body = { id: row.id };
  for (const field of fields.split(",").map((f) => f.trim())) {
    if (field in template) picked[field] = template[field];
  }
  return picked;
}

const CATEGORIES = ["MARKETING", "UTILITY", "AUTHENTICATION"];

/**
 * `POST /{waba_id}/message_templates`: approved at once, unless a `template` failure is
 * injected on one of the WABA's numbers (sync: Meta's error; async: created REJECTED).
 */
export async function createTemplate(ctx: AppContext, wabaId: string, body: Body) {
  await ensureSeedTemplates(ctx.db, wabaId);
  const { name, language, category, components } = body;
  if (name === undefined) refuse("invalidParameter", "The parameter name is required.");
  if (typeof name !== "string" || !/^[a-z0-9_]{1,512}$/.test(name)) {
    refuse("invalidParameter", "Invalid parameter", "name: lowercase letters, digits and underscores only");
  }
  if (language === undefined) refuse("invalidParameter", "The parameter language is required.");
  if (typeof language !== "string" || !/^[a-z]{2,3}(_[A-Z]{2})?$/.test(language)) {
    refuse("invalidParameter", "Invalid parameter", "language: must be a locale such as en_US");
  }
  if (category === undefined) refuse("invalidParameter", "The parameter category is required.");
  if (typeof category !== "string" || !CATEGORIES.includes(category.toUpperCase())) {
    refuse("invalidParameter", "Invalid parameter", `category: must be one of ${CATEGORIES.join(", ")}`);
  }
  if (components === undefined) refuse("invalidParameter", "The parameter components is required.");
  if (!Array.isArray(components) || !components.every((c) => typeof c === "object" && c !== null)) {
    refuse("invalidParameter", "Invalid parameter", "components: must be an array of objects");
  }
  const bodyComponent = (components as Body[]).find((c) => String(c.type).toUpperCase() === "BODY");
  if (
    category.toUpperCase() !== "AUTHENTICATION" &&
    (!bodyComponent || typeof bodyComponent.text !== "string")
  ) {
    refuse("invalidParameter", "Invalid parameter", "components: a BODY component with text is required");
  }
  const numbers = await store.listKnownNumbersOfWaba(ctx.db, wabaId);
  const failure = await store.consumeFailure(
    ctx.db,
    numbers.map((n) => n.phone_number_id),
    "template",
  );
  if (failure?.mode === "sync") throw injectedError(failure);
  const id = newTemplateId();
  const status = failure ? "REJECTED" : "APPROVED";
  const inserted = await store.insertTemplate(ctx.db, {
    id,
    business_account_id: wabaId,
    name,
    language,
    category: category.toUpperCase(),
    status,
    components: components as Body[],
    rejected_reason: failure ? "INVALID_FORMAT" : null,
  });
  if (!inserted) {
    const { status: httpStatus, body: error } = metaError("invalidParameter", "Invalid parameter");
    error.error.error_subcode = 2388024;
    error.error.error_user_title = "Content in this language already exists";
    error.error.error_user_msg = `${name} already has content in ${language}.`;
    throw new MetaHttpError(httpStatus, error);
  }
  return { id, status, category: category.toUpperCase() };
}

export async function deleteTemplate(ctx: AppContext, wabaId: string, name?: string, hsmId?: string) {
  if (!name) refuse("invalidParameter", "The parameter name is required.");
  const deleted = await store.deleteTemplates(ctx.db, wabaId, name, hsmId);
  if (deleted === 0) {
    refuse("invalidParameter", "Invalid parameter", `Message template "${name}" was not found`);
  }
  return { success: true };
}

// ---------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------

export async function uploadMedia(
  ctx: AppContext,
  phoneNumberId: string,
  upload: { fields: Record<string, string>; file?: { data: Buffer; mimetype: string; filename?: string } },
) {
  requireNumberId(phoneNumberId);
  if (upload.fields.messaging_product !== "whatsapp") {
    refuse("invalidParameter", "The parameter messaging_product is required.");
  }
  if (!upload.file) refuse("invalidParameter", "The parameter file is required.");
  const mimeType = normalizeMimeType(upload.fields.type || upload.file.mimetype);
  const limit = MEDIA_LIMITS[mimeType];
  if (!limit) {
    refuse(
      "invalidParameter",
      `Param file must be a file with one of the following types: ${Object.keys(MEDIA_LIMITS).join(", ")}. Received file of type '${mimeType}'.`,
    );
  }
  if (upload.file.data.length > limit) {
    refuse("mediaError", "Media upload error", `${mimeType} files must be at most ${limit / 1024 / 1024} MB`);
  }
  if (upload.file.data.length === 0) refuse("mediaError", "Media upload error", "the file is empty");
  const failure = await store.consumeFailure(ctx.db, [phoneNumberId], "media");
  if (failure) throw injectedError(failure);
  const id = newSandboxId();
  await store.insertMedia(ctx.db, {
    id,
    phone_number_id: phoneNumberId,
    mime_type: mimeType,
    sha256: createHash("sha256").update(upload.file.data).digest("hex"),
    file_size: upload.file.data.length,
    filename: upload.file.filename ?? null,
    data: upload.file.data,
  });
  return { id };
}

/**
 * Media metadata; undefined when `id` is not an upload. Meta's unknown-object error once
 * deleted, or when `phoneNumberId` (Meta's optional `phone_number_id` check) is not its number.
 */
export async function getMedia(ctx: AppContext, id: string, baseUrl: string, phoneNumberId?: string) {
  const media = await store.findMedia(ctx.db, id);
  if (!media) return undefined;
  if (media.deleted_at || (phoneNumberId && phoneNumberId !== media.phone_number_id)) unknownObject(id);
  return {
    messaging_product: "whatsapp",
    url: `${baseUrl}/sandbox/media/${media.id}`,
    mime_type: media.mime_type,
    sha256: media.sha256,
    file_size: media.file_size,
    id: media.id,
  };
}

/** Deletes an upload (checked against `phoneNumberId` when given); false when there is none. */
export async function deleteMedia(ctx: AppContext, id: string, phoneNumberId?: string) {
  if (phoneNumberId) {
    const media = await store.findMedia(ctx.db, id);
    if (media && media.phone_number_id !== phoneNumberId) return false;
  }
  return store.deleteMedia(ctx.db, id);
}

export const readMedia = (ctx: AppContext, id: string) => store.readMediaData(ctx.db, id);

// ---------------------------------------------------------------------------------------------
// Resumable uploads (Meta's Resumable Upload API: template header handles, large assets)
// ---------------------------------------------------------------------------------------------

const UPLOAD_PREFIX = "upload:";

export const isUploadSessionId = (id: string) => id.startsWith(UPLOAD_PREFIX);

/** `POST /{app_id}/uploads?file_name=&file_length=&file_type=` → `{id: "upload:…"}`. */
export async function createUploadSession(
  ctx: AppContext,
  appId: string,
  query: Record<string, string | undefined>,
) {
  const { file_name: fileName, file_length: rawLength, file_type: rawType } = query;
  if (!fileName) refuse("invalidParameter", "The parameter file_name is required.");
  if (rawLength === undefined) refuse("invalidParameter", "The parameter file_length is required.");
  const fileLength = Number(rawLength);
  if (!/^\d+$/.test(rawLength) || fileLength < 1 || fileLength > MAX_MEDIA_BYTES) {
    refuse(
      "invalidParameter",
      "Invalid parameter",
      `file_length: must be from 1 to ${MAX_MEDIA_BYTES} bytes`,
    );
  }
  if (!rawType) refuse("invalidParameter", "The parameter file_type is required.");
  const fileType = normalizeMimeType(rawType);
  if (!RESUMABLE_UPLOAD_TYPES.includes(fileType)) {
    refuse(
      "invalidParameter",
      "Invalid parameter",
      `file_type: must be one of ${RESUMABLE_UPLOAD_TYPES.join(", ")}`,
    );
  }
  const id = `${UPLOAD_PREFIX}${randomBytes(24).toString("base64url")}`;
  await store.insertUpload(ctx.db, {
    id,
    app_id: appId,
    file_name: fileName,
    file_length: fileLength,
    file_type: fileType,
  });
  return { id };
}

/** `GET /upload:…`: where an upload stands, to resume it. */
export async function getUploadSession(ctx: AppContext, id: string) {
  const upload = await store.findUpload(ctx.db, id);
  if (!upload) unknownObject(id);
  return { id: upload.id, file_offset: upload.file_offset };
}

/**
 * `POST /upload:…` with header `file_offset` and the bytes as the body: appends them, and
 * answers the file handle `h` once the file is complete (before that, where it stands).
 */
export async function appendToUpload(
  ctx: AppContext,
  id: string,
  fileOffset: string | undefined,
  data: Buffer,
) {
  const upload = await store.findUpload(ctx.db, id);
  if (!upload) unknownObject(id);
  if (fileOffset === undefined || !/^\d+$/.test(fileOffset)) {
    refuse("invalidParameter", "The parameter file_offset is required.");
  }
  if (data.length === 0) refuse("invalidParameter", "Invalid parameter", "the request body holds no bytes");
  const handle = `4::${Buffer.from(upload.file_type).toString("base64")}:${randomBytes(32).toString("base64url")}`;
  const updated = await store.appendUpload(ctx.db, id, Number(fileOffset), data, handle);
  if (!updated) {
    refuse(
      "invalidParameter",
      "Invalid parameter",
      `file_offset: the upload stands at ${upload.file_offset} of ${upload.file_length} bytes; ${data.length} bytes at ${fileOffset} do not fit`,
    );
  }
  return updated.handle ? { h: updated.handle } : { id: updated.id, file_offset: updated.file_offset };
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/**
 * `GET /oauth/access_token?code=`: codes starting `sandbox-` exchange for a sandbox business
 * token (derived from the code, see signup.ts); `sandbox-expired-…` is refused as an expired
 * code, anything else as a malformed one.
 */
export function exchangeCode(code: string | undefined) {
  if (!code) refuse("invalidParameter", "Missing authorization code");
  if (!code.startsWith("sandbox-")) {
    const { status, body } = metaError("invalidParameter", "Invalid verification code format.");
    body.error.error_subcode = 36008;
    throw new MetaHttpError(status, body);
  }
  if (scenarioOfCode(code) === "expired") {
    const { status, body } = metaError("invalidParameter", "This authorization code has expired.");
    body.error.error_subcode = 36007;
    throw new MetaHttpError(status, body);
  }
  return { access_token: signupToken(code), token_type: "bearer" };
}

/**
 * `GET /debug_token?input_token=`: valid for any token the sandbox accepts. A business token
 * from a simulated signup also lists the WABA it grants (`granular_scopes`, as Meta does),
 * none for the `no-waba` scenario.
 */
export function debugToken(inputToken: string | undefined) {
  if (!inputToken) refuse("invalidParameter", "The parameter input_token is required.");
  const valid = isSandboxToken(inputToken);
  const signup = parseSignupToken(inputToken);
  const granted = signup && signup.scenario !== "no-waba" ? [signup.wabaId] : [];
  return {
    data: {
      app_id: SANDBOX_APP.id,
      type: "SYSTEM_USER",
      application: SANDBOX_APP.name,
      data_access_expires_at: 0,
      expires_at: 0,
      is_valid: valid,
      scopes: valid ? ["whatsapp_business_management", "whatsapp_business_messaging"] : [],
      ...(signup
        ? {
            granular_scopes: [
              { scope: "whatsapp_business_management", target_ids: granted },
              { scope: "whatsapp_business_messaging", target_ids: granted },
            ],
          }
        : {}),
      ...(valid
        ? {}
        : { error: { code: 190, message: "Invalid OAuth access token - Cannot parse access token" } }),
    },
  };
}

/** The sandbox accepts any bearer token that starts with `sandbox` (see the README). */
export function isSandboxToken(token: string | undefined): boolean {
  return typeof token === "string" && token.startsWith("sandbox");
}
