import { setTimeout as sleep } from "node:timers/promises";
import type { AppContext } from "../../context.ts";
import { consumeRateLimit, type RateDecision } from "../../db/rate-limits.ts";
import { HttpError } from "../../http/errors.ts";
import { GraphApiError } from "../../whatsapp/graph-client.ts";
import { graphTargetFor } from "../../whatsapp/targets.ts";
import type { PhoneNumberHealthPayload } from "./schemas.ts";
import { metaFields, requirePhoneNumber } from "./service.ts";
import * as store from "./store.ts";

// The live health check of a number (§2.9): Graph calls for the number and its WABA, cached
// for 3 minutes per number in the database, backed off after Meta refuses the token, and
// rate-limited per project — all shared by every process.

export const HEALTH_LIMITS = { perSecond: 5, perMinute: 60 };
const CACHE_MS = 3 * 60_000;
/** Holds after repeated access/token errors: 5, then 15, 30 and 60 minutes. */
const BACKOFF_MINUTES = [5, 15, 30, 60];
/** How long a request waits for a check another request is running. */
const WAIT_FOR_RUNNING_MS = 15_000;

type Check = {
  passed: boolean | null;
  details?: Record<string, unknown>;
  error?: string;
  overall_status?: string;
};

/** The `X-Health-RateLimit-*` headers for a decision. */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const [second, minute] = decision.windows;
  return {
    "X-Health-RateLimit-Second-Limit": String(second!.limit),
    "X-Health-RateLimit-Second-Remaining": String(second!.remaining),
    "X-Health-RateLimit-Minute-Limit": String(minute!.limit),
    "X-Health-RateLimit-Minute-Remaining": String(minute!.remaining),
  };
}

/** Counts a health request of the project; throws the 429 (with its headers) when over. */
export async function admitHealthCheck(ctx: AppContext, projectId: string): Promise<Record<string, string>> {
  const decision = await consumeRateLimit(ctx.db, [
    { key: `health:second:${projectId}`, seconds: 1, limit: HEALTH_LIMITS.perSecond },
    { key: `health:minute:${projectId}`, seconds: 60, limit: HEALTH_LIMITS.perMinute },
  ]);
  const headers = rateLimitHeaders(decision);
  if (!decision.allowed) {
    throw new HttpError(429, "Rate limit exceeded", {
      extra: {
        message: `WhatsApp health checks are limited to ${HEALTH_LIMITS.perSecond} requests per second and ${HEALTH_LIMITS.perMinute} requests per minute per project.`,
      },
      headers: { ...headers, "Retry-After": String(decision.retryAfterSeconds) },
    });
  }
  return headers;
}

const graphErrorText = (err: GraphApiError) =>
  `Meta Graph API error: ${err.status} - ${JSON.stringify({ error: err.error })}`;

/** Meta refused the number's credentials (as opposed to being slow, down or rate limiting). */
function isAccessError(err: GraphApiError): boolean {
  return err.status === 401 || err.status === 403 || [190, 102, 10, 200].includes(err.error.code);
}

interface CheckOutcome {
  payload: PhoneNumberHealthPayload;
  accessError: boolean;
}

async function runChecks(ctx: AppContext, number: store.PhoneNumberRow): Promise<CheckOutcome> {
  const timestamp = isoMicros(Date.now());
  const target = graphTargetFor(ctx, number);
  const checks: Record<string, Check> = {};

  let info: Record<string, unknown>;
  try {
    info = await ctx.graph.request<Record<string, unknown>>(target, {
      path: `/${number.phone_number_id}`,
      query: {
        fields:
          "id,verified_name,display_phone_number,quality_rating,status,messaging_limit_tier,health_status",
      },
    });
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    const accessError = isAccessError(err);
    checks.phone_number_access = { passed: false, error: graphErrorText(err) };
    checks.webhook_verified = webhookVerified(number);
    return {
      accessError,
      payload: {
        status: accessError ? "unhealthy" : "error",
        timestamp,
        checks,
        error: accessError
          ? `Meta refused access to the phone number: ${err.error.message}`
          : `Could not check the phone number with Meta: ${err.error.message}`,
      },
    };
  }
  // What Meta says about the number is the freshest copy; keep the stored one in step.
  await store.updatePhoneNumber(ctx.db, number.project_id, number.id, metaFields(info), { touch: false });

  checks.phone_number_access = {
    passed: true,
    details: {
      verified_name: info.verified_name ?? null,
      display_phone_number: info.display_phone_number ?? null,
      quality_rating: info.quality_rating ?? null,
      status: info.status ?? null,
      throughput_tier: info.messaging_limit_tier ?? null,
      id: info.id ?? number.phone_number_id,
    },
  };

  const connection = ["CONNECTED", "DISCONNECTED"].includes(String(info.status))
    ? String(info.status)
    : "UNKNOWN";
  checks.phone_number_connection = {
    passed: connection === "UNKNOWN" ? null : connection === "CONNECTED",
    details: { status: connection },
  };

  const health = info.health_status as { can_send_message?: string; entities?: unknown[] } | undefined;
  const messaging = health?.can_send_message ?? "UNKNOWN";
  checks.messaging_health = {
    passed: messaging === "AVAILABLE" ? true : messaging === "UNKNOWN" ? null : false,
    overall_status: messaging,
    details: { can_send_message: messaging, entities: health?.entities ?? [] },
  };

  checks.webhook_subscription = await webhookSubscription(ctx, number);
  checks.webhook_verified = webhookVerified(number);
  if (number.is_coexistence) checks.token_validity = await tokenValidity(ctx, number);

  const unhealthy =
    connection === "DISCONNECTED" || messaging === "BLOCKED" || checks.token_validity?.passed === false;
  const degraded =
    messaging === "LIMITED" ||
    checks.webhook_subscription.passed === false ||
    checks.webhook_verified.passed === false;
  return {
    accessError: false,
    payload: {
      status: unhealthy ? "unhealthy" : degraded ? "degraded" : "healthy",
      timestamp,
      checks,
      error: null,
    },
  };
}

async function webhookSubscription(ctx: AppContext, number: store.PhoneNumberRow): Promise<Check> {
  if (!number.business_account_id) return { passed: false, error: "The number has no business_account_id" };
  try {
    const apps = await ctx.graph.request<{ data?: { whatsapp_business_api_data?: { id?: string } }[] }>(
      graphTargetFor(ctx, number),
      { path: `/${number.business_account_id}/subscribed_apps` },
    );
    const app = apps.data?.[0]?.whatsapp_business_api_data;
    return {
      passed: Boolean(app),
      details: {
        app_id: app?.id ?? null,
        subscribed: Boolean(app),
        subscribed_fields: app ? ["messages"] : [],
      },
    };
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    return { passed: false, error: graphErrorText(err) };
  }
}

function webhookVerified(number: store.PhoneNumberRow): Check {
  if (!number.webhook_verified_at) {
    return { passed: false, details: { verified_at: null, message: "Webhook not yet verified by Meta" } };
  }
  const at = number.webhook_verified_at.replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return {
    passed: true,
    details: { verified_at: number.webhook_verified_at, message: `Webhook successfully verified at ${at}` },
  };
}

async function tokenValidity(ctx: AppContext, number: store.PhoneNumberRow): Promise<Check> {
  const target = graphTargetFor(ctx, number);
  try {
    const debug = await ctx.graph.request<{ data?: { is_valid?: boolean; expires_at?: number } }>(target, {
      path: "/debug_token",
      query: { input_token: target.accessToken },
    });
    return {
      passed: debug.data?.is_valid === true,
      details: { is_valid: debug.data?.is_valid ?? false, expires_at: debug.data?.expires_at ?? null },
    };
  } catch (err) {
    if (!(err instanceof GraphApiError)) throw err;
    return { passed: false, error: graphErrorText(err) };
  }
}

/** ISO 8601 with microseconds, like every timestamp Parley returns. */
const isoMicros = (ms: number) => new Date(ms).toISOString().replace(/Z$/, "000Z");

/** A stored result that may be answered without calling Meta, if any. */
function reusable(
  state: store.HealthStateRow | undefined,
  now: number,
): PhoneNumberHealthPayload | undefined {
  if (!state?.payload) return undefined;
  // During a backoff the stored payload (which carries its `retry_after`) is repeated.
  if (state.retry_after && Date.parse(state.retry_after) > now)
    return state.payload as PhoneNumberHealthPayload;
  if (state.expires_at && Date.parse(state.expires_at) > now)
    return state.payload as PhoneNumberHealthPayload;
  return undefined;
}

/**
 * The number's health: the cached result while fresh (or while backing off after token
 * errors), else a live check. Concurrent requests for the same number wait for the running
 * check instead of calling Meta again; after 15 s they answer `status: error`.
 */
export async function checkPhoneNumberHealth(
  ctx: AppContext,
  projectId: string,
  phoneNumberId: string,
): Promise<PhoneNumberHealthPayload> {
  const number = await requirePhoneNumber(ctx.db, projectId, phoneNumberId);
  const cached = reusable(await store.findHealthState(ctx.db, number.id), Date.now());
  if (cached) return cached;

  if (!(await store.claimHealthCheck(ctx.db, number.id, WAIT_FOR_RUNNING_MS / 1000))) {
    const deadline = Date.now() + WAIT_FOR_RUNNING_MS;
    while (Date.now() < deadline) {
      await sleep(200);
      const state = await store.findHealthState(ctx.db, number.id);
      if (!state?.checking_since) {
        const fresh = reusable(state, Date.now());
        if (fresh) return fresh;
        break;
      }
    }
    return {
      status: "error",
      timestamp: isoMicros(Date.now()),
      checks: null,
      error: "A health check for this number is already running; retry shortly",
    };
  }

  const previous = await store.findHealthState(ctx.db, number.id);
  // Another request may have finished its check between our cache read and our claim.
  const justChecked = reusable(previous, Date.now());
  if (justChecked) {
    await store.releaseHealthCheck(ctx.db, number.id);
    return justChecked;
  }
  let outcome: CheckOutcome;
  try {
    outcome = await runChecks(ctx, number);
  } catch (err) {
    await store.clearHealthState(ctx.db, number.id);
    throw err;
  }
  const checkedAt = outcome.payload.timestamp;
  const step = outcome.accessError ? Math.min((previous?.backoff_step ?? 0) + 1, BACKOFF_MINUTES.length) : 0;
  const retryAfter = outcome.accessError
    ? isoMicros(Date.parse(checkedAt) + BACKOFF_MINUTES[step - 1]! * 60_000)
    : null;
  const payload = retryAfter ? { ...outcome.payload, retry_after: retryAfter } : outcome.payload;
  await store.saveHealthResult(ctx.db, number.id, {
    payload,
    checkedAt,
    // A failure to reach Meta is not worth keeping: the next request checks again.
    expiresAt: new Date(
      Date.parse(checkedAt) + (outcome.payload.status === "error" ? 0 : CACHE_MS),
    ).toISOString(),
    retryAfter,
    backoffStep: step,
  });
  return payload;
}
