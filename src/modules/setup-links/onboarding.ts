import { randomInt } from "node:crypto";
import type { AppContext } from "../../context.ts";
import { HttpError, invalid, notFound } from "../../http/errors.ts";
import { GraphApiError, type GraphTarget } from "../../whatsapp/graph-client.ts";
import { SANDBOX_ACCESS_TOKEN } from "../../whatsapp/targets.ts";
import { findCustomer } from "../customers/store.ts";
import type { WhatsappPhoneNumber } from "../phone-numbers/presenter.ts";
import { connectPhoneNumber, updatePhoneNumber } from "../phone-numbers/service.ts";
import { findLivePhoneNumberByMetaId } from "../phone-numbers/store.ts";
import * as store from "./store.ts";

// Hosted onboarding: what happens behind the page at a setup link's `url`. The customer runs
// Meta's Embedded Signup in the browser (or, with the sandbox on, a simulated one) and the page
// posts the code it got; here the code becomes a connected number: exchange it for a business
// token, find the WABA and its number, register the number, subscribe Parley's app to the WABA,
// then connect the number under the link's customer and mark the link used in one transaction.
// Every Meta call goes through the one Graph client, to Meta or to the built-in sandbox.

/** The `error_code` values of the failure redirect (Kapso's). */
export const ONBOARDING_ERROR_CODES = [
  "facebook_auth_failed",
  "phone_verification_failed",
  "waba_limit_reached",
  "token_exchange_failed",
  "link_expired",
  "already_used",
] as const;
export type OnboardingErrorCode = (typeof ONBOARDING_ERROR_CODES)[number];

/** The failures the page itself reports: the customer left Meta's dialog, or Meta's dialog failed. */
export const BROWSER_ERROR_CODES = ["facebook_auth_failed", "waba_limit_reached"] as const;

export type ConnectionType = "coexistence" | "dedicated";

export interface CompleteOnboardingInput {
  code: string;
  /** The sandbox's simulated Embedded Signup instead of Meta's. */
  simulated?: boolean;
  connection_type?: ConnectionType;
  /** From Meta's `WA_EMBEDDED_SIGNUP` FINISH message, when the page got it. */
  business_account_id?: string;
  phone_number_id?: string;
}

export interface CompletedOnboarding {
  setup_link_id: string;
  status: "completed";
  phone_number_id: string;
  business_account_id: string | null;
  display_phone_number: string | null;
  /** `success_redirect_url` with the documented query parameters; null when the link has none. */
  redirect_url: string | null;
}

/** An onboarding that did not finish; the page follows `redirect_url` (the failure redirect). */
class OnboardingFailure extends Error {
  readonly code: OnboardingErrorCode;
  readonly status: number;

  constructor(code: OnboardingErrorCode, message: string, status = 422) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const fail = (code: OnboardingErrorCode, message: string, status?: number): never => {
  throw new OnboardingFailure(code, message, status);
};

/** `base` with `params` added to its query (keeping the query it has); null when `base` is unset. */
export function redirectTo(base: string | null, params: Record<string, string | null | undefined>) {
  if (!base || !URL.canParse(base)) return null;
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) if (value) url.searchParams.set(key, value);
  return url.toString();
}

export function failureRedirect(link: store.SetupLinkRow, code: OnboardingErrorCode): string | null {
  return redirectTo(link.failure_redirect_url, { setup_link_id: link.id, error_code: code });
}

/** `+1 555-010-0000` → `+15550100000` (E.164, as the success redirect carries it). */
function e164(display: string | null | undefined): string | null {
  const digits = display?.replace(/\D/g, "");
  return digits ? `+${digits}` : null;
}

/** Why a link can no longer be used, or undefined while it can. A revoked link counts as expired. */
export function unusableCode(link: store.SetupLinkRow): "already_used" | "link_expired" | undefined {
  if (link.status === "used") return "already_used";
  if (link.status !== "active") return "link_expired";
  return undefined;
}

function failureError(link: store.SetupLinkRow, failure: OnboardingFailure): HttpError {
  const status =
    failure.code === "already_used" ? 409 : failure.code === "link_expired" ? 410 : failure.status;
  return new HttpError(status, failure.message, {
    extra: { error_code: failure.code, redirect_url: failureRedirect(link, failure.code) },
  });
}

const UNUSABLE_MESSAGES = {
  already_used: "This setup link has already been used",
  link_expired: "This setup link has expired or was revoked",
};

/** The link of a token from a URL (unknown, malformed and too long alike: undefined). */
export async function findLink(ctx: AppContext, token: string): Promise<store.SetupLinkRow | undefined> {
  if (!token || token.length > 200) return undefined;
  return store.findSetupLinkByToken(ctx.db, token);
}

async function requireLink(ctx: AppContext, token: string): Promise<store.SetupLinkRow> {
  const link = await findLink(ctx, token);
  if (!link) throw notFound("Setup link");
  return link;
}

/** Meta's Embedded Signup settings, when Parley is configured for it. */
export function embeddedSignupConfig(ctx: AppContext) {
  const { appId, appSecret, configurationId, graphVersion } = ctx.config.meta;
  return appId && appSecret && configurationId ? { appId, configurationId, graphVersion } : undefined;
}

/** What the page needs to show an open link. */
export async function setupPageData(ctx: AppContext, link: store.SetupLinkRow) {
  const customer = await findCustomer(ctx.db, link.project_id, link.customer_id);
  return {
    customerName: customer?.name ?? null,
    meta: embeddedSignupConfig(ctx) ?? null,
    sandbox: ctx.config.sandboxEnabled,
  };
}

/** Where the signup's Graph calls go, with which app credentials, and the kind of number it makes. */
interface SignupVia {
  kind: "production" | "sandbox";
  /** Base URL and version; `accessToken` is the app's own token (for `oauth/access_token`, `debug_token`). */
  app: GraphTarget;
  clientId: string;
  clientSecret: string;
}

function signupVia(ctx: AppContext, simulated: boolean): SignupVia {
  const version = ctx.config.meta.graphVersion;
  if (simulated) {
    if (!ctx.config.sandboxEnabled) {
      throw invalid("simulated", "needs the sandbox, which is off on this server (PARLEY_SANDBOX)");
    }
    return {
      kind: "sandbox",
      app: { baseUrl: `${ctx.selfUrl}/sandbox/graph`, version, accessToken: SANDBOX_ACCESS_TOKEN },
      clientId: "sandbox-app",
      clientSecret: SANDBOX_ACCESS_TOKEN,
    };
  }
  const { appId, appSecret, configurationId, graphUrl } = ctx.config.meta;
  if (!appId || !appSecret || !configurationId) {
    throw new HttpError(
      422,
      "Embedded Signup is not configured on this server (META_APP_ID, META_APP_SECRET, META_CONFIGURATION_ID)",
    );
  }
  return {
    kind: "production",
    app: { baseUrl: graphUrl, version, accessToken: `${appId}|${appSecret}` },
    clientId: appId,
    clientSecret: appSecret,
  };
}

/** A Graph call of one signup step: Meta refusing it (or being unreachable) fails the onboarding with `code`. */
async function step<T>(code: OnboardingErrorCode, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    const unreachable = err.status === 0 || err.status >= 500;
    return fail(code, `${what}: ${err.error.message}`, unreachable ? 502 : 422);
  }
}

function chooseConnectionType(link: store.SetupLinkRow, asked: ConnectionType | undefined): ConnectionType {
  const allowed = link.allowed_connection_types;
  if (asked && !allowed.includes(asked)) {
    throw invalid("connection_type", `must be one of: ${allowed.join(", ")}`);
  }
  return asked ?? (allowed.includes("dedicated") ? "dedicated" : allowed[0]!);
}

interface WabaNumber {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
}

interface DebugToken {
  data?: { is_valid?: boolean; granular_scopes?: { scope: string; target_ids?: string[] }[] };
}

/** Thrown inside the connecting transaction when the link was used (or expired) meanwhile. */
class LinkTaken extends Error {}

/**
 * Completes an onboarding from the code of Meta's Embedded Signup (or a sandbox code). The
 * link must be active; while one onboarding runs, another on the same link answers
 * `already_used`. Failures answer with `error_code` and the failure redirect, and are recorded
 * on the link (`whatsapp_setup_status: failed`), which stays usable.
 */
export async function completeOnboarding(
  ctx: AppContext,
  token: string,
  input: CompleteOnboardingInput,
): Promise<CompletedOnboarding> {
  const link = await requireLink(ctx, token);
  const unusable = unusableCode(link);
  if (unusable) throw failureError(link, new OnboardingFailure(unusable, UNUSABLE_MESSAGES[unusable]));
  const type = chooseConnectionType(link, input.connection_type);
  const via = signupVia(ctx, input.simulated === true);
  if (!(await store.claimSetupLink(ctx.db, link.id))) {
    const now = (await findLink(ctx, token)) ?? link;
    const code = unusableCode(now) ?? "already_used";
    const message =
      code === "already_used" && !unusableCode(now)
        ? "This setup link is being used in another window"
        : UNUSABLE_MESSAGES[code];
    throw failureError(now, new OnboardingFailure(code, message));
  }
  try {
    const number = await runSignup(ctx, link, via, type, input);
    return {
      setup_link_id: link.id,
      status: "completed",
      phone_number_id: number.phone_number_id,
      business_account_id: number.business_account_id,
      display_phone_number: e164(number.display_phone_number),
      redirect_url: redirectTo(link.success_redirect_url, {
        setup_link_id: link.id,
        status: "completed",
        phone_number_id: number.phone_number_id,
        business_account_id: number.business_account_id,
        display_phone_number: e164(number.display_phone_number),
      }),
    };
  } catch (err) {
    if (err instanceof OnboardingFailure) {
      await store.recordSetupFailure(ctx.db, link.id, `${err.code}: ${err.message}`);
      throw failureError(link, err);
    }
    await store.recordSetupFailure(ctx.db, link.id, "The onboarding failed unexpectedly");
    throw err;
  }
}

/**
 * Records a failure the page saw in Meta's dialog (the customer cancelled, or Meta refused,
 * e.g. for too many WhatsApp accounts) and answers the failure redirect.
 */
export async function abandonOnboarding(
  ctx: AppContext,
  token: string,
  input: { error_code: (typeof BROWSER_ERROR_CODES)[number]; message?: string },
) {
  const link = await requireLink(ctx, token);
  const unusable = unusableCode(link);
  const code = unusable ?? input.error_code;
  if (!unusable) {
    const detail = input.message?.trim().slice(0, 500);
    const message =
      input.error_code === "waba_limit_reached"
        ? "Meta's signup refused: too many WhatsApp accounts"
        : "The customer left Meta's signup";
    await store.recordSetupFailure(ctx.db, link.id, `${code}: ${detail || message}`);
  }
  return {
    setup_link_id: link.id,
    status: "failed" as const,
    error_code: code,
    redirect_url: failureRedirect(link, code),
  };
}

async function runSignup(
  ctx: AppContext,
  link: store.SetupLinkRow,
  via: SignupVia,
  type: ConnectionType,
  input: CompleteOnboardingInput,
): Promise<WhatsappPhoneNumber> {
  // 1. The code becomes the customer's business token.
  const exchanged = await step("token_exchange_failed", "Meta refused the authorization code", () =>
    ctx.graph.request<{ access_token?: string }>(via.app, {
      path: "/oauth/access_token",
      query: { client_id: via.clientId, client_secret: via.clientSecret, code: input.code },
      // A code works once: not repeated after a timeout that may have spent it.
      retry: "unsafe",
    }),
  );
  const businessToken = exchanged.access_token;
  if (typeof businessToken !== "string" || !businessToken) {
    fail("token_exchange_failed", "Meta answered the code exchange without an access token");
  }
  const asCustomer: GraphTarget = { ...via.app, accessToken: businessToken! };

  // 2. The WABA the customer shared (Meta's granular scopes; the page's FINISH message may name it).
  const debug = await step("facebook_auth_failed", "Meta could not check the business token", () =>
    ctx.graph.request<DebugToken>(via.app, { path: "/debug_token", query: { input_token: businessToken } }),
  );
  if (debug.data?.is_valid === false)
    fail("facebook_auth_failed", "Meta reports the business token as invalid");
  const scopes = debug.data?.granular_scopes;
  const granted = scopes?.find((s) => s.scope === "whatsapp_business_management")?.target_ids ?? [];
  if (input.business_account_id && scopes && !granted.includes(input.business_account_id)) {
    fail("facebook_auth_failed", "The WhatsApp Business Account was not shared with this app");
  }
  const wabaId = input.business_account_id ?? granted[0];
  if (!wabaId) fail("facebook_auth_failed", "The customer did not share a WhatsApp Business Account");

  // 3. Its phone number.
  const listed = await step("facebook_auth_failed", "Meta refused to list the account's numbers", () =>
    ctx.graph.request<{ data?: WabaNumber[] }>(asCustomer, {
      path: `/${wabaId}/phone_numbers`,
      query: { fields: "id,display_phone_number,verified_name" },
    }),
  );
  const number = await pickNumber(ctx, link, listed.data ?? [], input.phone_number_id);

  // 4. Registration for Cloud API (a coexistence number stays registered with the Business App).
  if (type === "dedicated") {
    await step("phone_verification_failed", "Meta refused to register the number", () =>
      ctx.graph.request(asCustomer, {
        method: "POST",
        path: `/${number.id}/register`,
        json: { messaging_product: "whatsapp", pin: String(randomInt(0, 1_000_000)).padStart(6, "0") },
      }),
    );
  }

  // 5. Parley's app receives the WABA's webhooks (best effort, as when connecting through the API:
  // the health check reports a missing subscription).
  try {
    await ctx.graph.request(asCustomer, { method: "POST", path: `/${wabaId}/subscribed_apps` });
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    ctx.log.warn({ err, wabaId }, "onboarding could not subscribe the app to the WABA's webhooks");
  }

  // 6. The number under the customer and the link used, in one transaction.
  const markUsed = async (tx: Parameters<typeof store.markSetupLinkUsed>[0], row: { id: string }) => {
    if (!(await store.markSetupLinkUsed(tx, link.id, row))) throw new LinkTaken();
  };
  try {
    const existing = link.reconnect_phone_number
      ? await store.findReconnectableNumber(
          ctx.db,
          link.project_id,
          link.customer_id,
          link.reconnect_phone_number,
        )
      : undefined;
    if (existing && via.kind === "production") {
      // Reconnection: the customer's number gets the new token (and Meta's ids), no new number.
      return await updatePhoneNumber(
        ctx,
        link.project_id,
        existing.phone_number_id,
        {
          kind: "production",
          phone_number_id: number.id,
          business_account_id: wabaId,
          access_token: businessToken,
        },
        { inTransaction: markUsed },
      );
    }
    return await connectPhoneNumber(
      ctx,
      link.project_id,
      link.customer_id,
      {
        name: number.verified_name || number.display_phone_number || "WhatsApp number",
        kind: via.kind,
        phone_number_id: number.id,
        business_account_id: wabaId,
        access_token: via.kind === "production" ? businessToken : undefined,
        is_coexistence: type === "coexistence",
      },
      { subscribed: true, inTransaction: markUsed },
    );
  } catch (err) {
    if (err instanceof LinkTaken || (err instanceof HttpError && err.statusCode === 409)) {
      const fresh = await store.findSetupLink(ctx.db, link.project_id, link.customer_id, link.id);
      const code = fresh ? unusableCode(fresh) : "link_expired";
      if (code) fail(code, UNUSABLE_MESSAGES[code]);
      fail(
        "phone_verification_failed",
        `The number ${number.display_phone_number ?? number.id} is already connected`,
      );
    }
    if (err instanceof HttpError && err.statusCode === 502) fail("facebook_auth_failed", err.message, 502);
    if (err instanceof HttpError && err.statusCode === 422) fail("facebook_auth_failed", err.message);
    throw err;
  }
}

/**
 * The number the onboarding connects: the one Meta's dialog named, the reconnection target, or
 * the first of the WABA's numbers not already connected to Parley.
 */
async function pickNumber(
  ctx: AppContext,
  link: store.SetupLinkRow,
  numbers: WabaNumber[],
  named: string | undefined,
): Promise<WabaNumber> {
  const digits = (n: WabaNumber) => n.display_phone_number?.replace(/\D/g, "");
  let number: WabaNumber | undefined;
  if (link.reconnect_phone_number) {
    number = numbers.find((n) => digits(n) === link.reconnect_phone_number && (!named || n.id === named));
    if (!number) {
      fail(
        "phone_verification_failed",
        `The customer did not connect +${link.reconnect_phone_number}, the number to reconnect`,
      );
    }
    return number!;
  }
  if (named) {
    number = numbers.find((n) => n.id === named);
  } else {
    for (const n of numbers) {
      if (!(await findLivePhoneNumberByMetaId(ctx.db, n.id))) {
        number = n;
        break;
      }
    }
    number ??= numbers[0];
  }
  if (!number)
    fail("phone_verification_failed", "The WhatsApp Business Account has no verified phone number");
  return number!;
}
