import { randomBytes } from "node:crypto";
import type { AppContext } from "../context.ts";
import type { MetaError } from "../whatsapp/graph-client.ts";
import { MetaHttpError, refuse, unknownObject } from "./errors.ts";
import { isMetaId } from "./numbers.ts";
import * as store from "./store.ts";

// A sandbox number's verification codes and settings, answered and validated as Meta does.

type Body = Record<string, unknown>;

/** The code every sandbox "SMS" or "voice call" delivers (nothing is sent anywhere). */
export const SANDBOX_VERIFICATION_CODE = "123456";

function requireNumberId(phoneNumberId: string): void {
  if (!isMetaId(phoneNumberId)) unknownObject(phoneNumberId);
}

const invalid = (details: string): never => refuse("invalidParameter", "Invalid parameter", details);

/** `POST /{phone_number_id}/request_code` (`code_method` SMS or VOICE, `language`). */
export async function requestCode(ctx: AppContext, phoneNumberId: string, body: Body) {
  requireNumberId(phoneNumberId);
  if (body.code_method === undefined) refuse("invalidParameter", "The parameter code_method is required.");
  if (body.code_method !== "SMS" && body.code_method !== "VOICE") invalid("code_method must be SMS or VOICE");
  if (body.language === undefined) refuse("invalidParameter", "The parameter language is required.");
  if (typeof body.language !== "string" || !/^[a-z]{2,3}(?:_[A-Z]{2})?$/.test(body.language)) {
    invalid("language must be a language code such as en_US");
  }
  await store.markCodeRequested(ctx.db, phoneNumberId);
  return { success: true };
}

/** Meta's refusal of a verification code that does not match (or was never requested). */
function verifyCodeError(details: string): MetaHttpError {
  return new MetaHttpError(400, {
    error: {
      message: "(#136025) Verify code error",
      type: "OAuthException",
      code: 136025,
      error_data: { messaging_product: "whatsapp", details },
      fbtrace_id: randomBytes(9).toString("base64url"),
    } as MetaError,
  });
}

/** `POST /{phone_number_id}/verify_code` (`code`): the sandbox's code after a `request_code`. */
export async function verifyCode(ctx: AppContext, phoneNumberId: string, body: Body) {
  requireNumberId(phoneNumberId);
  if (body.code === undefined) refuse("invalidParameter", "The parameter code is required.");
  if (typeof body.code !== "string" || !/^\d{6}$/.test(body.code)) invalid("code must be a 6-digit string");
  const state = await store.findNumberState(ctx.db, phoneNumberId);
  if (!state?.code_requested_at) throw verifyCodeError("No verification code was requested for this number.");
  if (body.code !== SANDBOX_VERIFICATION_CODE) {
    throw verifyCodeError("Code couldn't be verified, You have entered an incorrect code.");
  }
  await store.takeCodeRequest(ctx.db, phoneNumberId);
  return { success: true };
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/** What a number's settings are until a caller changes them. */
const DEFAULT_SETTINGS = {
  calling: { status: "DISABLED", call_icon_visibility: "DEFAULT", callback_permission_status: "DISABLED" },
  storage_configuration: { status: "DEFAULT" },
};

const isObject = (value: unknown): value is Body =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Checks `value` is an object with only `keys`, naming the first stranger. */
function objectOf(path: string, value: unknown, keys: readonly string[]): Body {
  if (!isObject(value)) return invalid(`${path} must be an object`);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) invalid(`${path}.${key} is not a valid parameter`);
  }
  return value;
}

function oneOf(path: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string))
    invalid(`${path} must be one of ${allowed.join(", ")}`);
}

function matches(path: string, value: unknown, pattern: RegExp, what: string): void {
  if (typeof value !== "string" || !pattern.test(value)) invalid(`${path} must be ${what}`);
}

function listOf(path: string, value: unknown, each: (item: unknown, itemPath: string) => void): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) invalid(`${path} must be an array`);
  for (const [i, item] of (value as unknown[]).entries()) each(item, `${path}[${i}]`);
}

const ON_OFF = ["ENABLED", "DISABLED"];
const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
const HHMM = /^(?:[01]\d|2[0-3])[0-5]\d$/;

function checkCalling(calling: unknown): void {
  const c = objectOf("calling", calling, [
    "status",
    "call_icon_visibility",
    "call_hours",
    "callback_permission_status",
    "sip",
  ]);
  oneOf("calling.status", c.status, ON_OFF);
  oneOf("calling.call_icon_visibility", c.call_icon_visibility, ["DEFAULT", "DISABLE_ALL"]);
  oneOf("calling.callback_permission_status", c.callback_permission_status, ON_OFF);
  if (c.call_hours !== undefined) {
    const hours = objectOf("calling.call_hours", c.call_hours, [
      "status",
      "timezone_id",
      "weekly_operating_hours",
      "holiday_schedule",
    ]);
    oneOf("calling.call_hours.status", hours.status, ON_OFF);
    if (hours.timezone_id !== undefined) {
      matches(
        "calling.call_hours.timezone_id",
        hours.timezone_id,
        /^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*$/,
        "a time zone",
      );
    }
    listOf("calling.call_hours.weekly_operating_hours", hours.weekly_operating_hours, (item, path) => {
      const day = objectOf(path, item, ["day_of_week", "open_time", "close_time"]);
      if (!DAYS.includes(day.day_of_week as string))
        invalid(`${path}.day_of_week must be one of ${DAYS.join(", ")}`);
      matches(`${path}.open_time`, day.open_time, HHMM, "a time HHMM");
      matches(`${path}.close_time`, day.close_time, HHMM, "a time HHMM");
    });
    listOf("calling.call_hours.holiday_schedule", hours.holiday_schedule, (item, path) => {
      const day = objectOf(path, item, ["date", "start_time", "end_time"]);
      matches(`${path}.date`, day.date, /^\d{4}-\d{2}-\d{2}$/, "a date YYYY-MM-DD");
      matches(`${path}.start_time`, day.start_time, HHMM, "a time HHMM");
      matches(`${path}.end_time`, day.end_time, HHMM, "a time HHMM");
    });
  }
  if (c.sip !== undefined) {
    const sip = objectOf("calling.sip", c.sip, ["status", "servers"]);
    oneOf("calling.sip.status", sip.status, ON_OFF);
    listOf("calling.sip.servers", sip.servers, (item, path) => {
      const server = objectOf(path, item, [
        "hostname",
        "port",
        "request_uri_user_params",
        "sip_user_password",
      ]);
      matches(`${path}.hostname`, server.hostname, /^[A-Za-z0-9.-]{1,253}$/, "a host name");
      const port = server.port;
      if (
        port !== undefined &&
        (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      ) {
        invalid(`${path}.port must be a port number`);
      }
      const params = server.request_uri_user_params;
      if (params !== undefined) {
        if (!isObject(params)) invalid(`${path}.request_uri_user_params must be an object`);
        for (const [key, value] of Object.entries(params as Body)) {
          if (typeof value !== "string") invalid(`${path}.request_uri_user_params.${key} must be a string`);
        }
      }
      if (server.sip_user_password !== undefined && typeof server.sip_user_password !== "string") {
        invalid(`${path}.sip_user_password must be a string`);
      }
    });
  }
}

function checkStorage(storage: unknown): void {
  const s = objectOf("storage_configuration", storage, ["status", "data_localization_region"]);
  oneOf("storage_configuration.status", s.status, ["DEFAULT", "IN_COUNTRY_STORAGE_ENABLED"]);
  if (s.status === "IN_COUNTRY_STORAGE_ENABLED" || s.data_localization_region !== undefined) {
    matches(
      "storage_configuration.data_localization_region",
      s.data_localization_region,
      /^[A-Z]{2}$/,
      "a country code",
    );
  }
}

/** `GET /{phone_number_id}/settings`; SIP passwords only with `include_sip_credentials=true`. */
export async function getSettings(ctx: AppContext, phoneNumberId: string, includeSipCredentials?: string) {
  requireNumberId(phoneNumberId);
  const stored = (await store.findNumberState(ctx.db, phoneNumberId))?.settings ?? {};
  const settings = mergeSettings(DEFAULT_SETTINGS, stored);
  const sip = (settings.calling as Body | undefined)?.sip as Body | undefined;
  if (includeSipCredentials !== "true" && Array.isArray(sip?.servers)) {
    sip.servers = sip.servers.map((server: Body) => {
      const { sip_user_password: _hidden, ...shown } = server;
      return shown;
    });
  }
  return settings;
}

/** `calling` and `storage_configuration` merge member by member; anything else is replaced. */
function mergeSettings(current: Body, changes: Body): Body {
  const merged: Body = structuredClone(current);
  for (const [key, value] of Object.entries(changes)) {
    merged[key] = isObject(value) && isObject(merged[key]) ? { ...merged[key], ...value } : value;
  }
  return merged;
}

/** `POST /{phone_number_id}/settings`: `calling`, `storage_configuration`, `fallback_language`. */
export async function updateSettings(ctx: AppContext, phoneNumberId: string, body: Body) {
  requireNumberId(phoneNumberId);
  const keys = Object.keys(body).filter((key) => key !== "messaging_product");
  if (keys.length === 0) refuse("invalidParameter", "The parameter calling is required.");
  for (const key of keys) {
    if (key === "calling") checkCalling(body.calling);
    else if (key === "storage_configuration") checkStorage(body.storage_configuration);
    else if (key === "fallback_language") {
      matches("fallback_language", body.fallback_language, /^[a-z]{2,3}(?:_[A-Z]{2})?$/, "a language code");
    } else invalid(`${key} is not a valid parameter`);
  }
  const changes = Object.fromEntries(keys.map((key) => [key, body[key]]));
  // Locked, so that two updates of different members at once both stay.
  await ctx.db.transaction(async (tx) => {
    const stored = await store.lockSettings(tx, phoneNumberId);
    await store.saveSettings(tx, phoneNumberId, mergeSettings(stored, changes));
  });
  return { success: true };
}
