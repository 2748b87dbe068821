import path from "node:path";
import {
  DEFAULT_PROVIDER_MODELS,
  type ProviderModel,
  readProviderModels,
} from "./modules/provider-models/catalogue.ts";

/** Everything Parley reads from its environment, validated once at start. */
export interface Config {
  port: number;
  host: string;
  /** Unset: embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  publicUrl: string;
  logLevel: LogLevel;
  /** `production` refuses to start without the secrets a real deployment needs. */
  env: "development" | "production";
  /** 32-byte key (Base64 or hex) that encrypts Meta access tokens at rest. */
  encryptionKey: Buffer | undefined;
  /** The built-in WhatsApp Cloud API sandbox (default: on with embedded PGlite, off otherwise). */
  sandboxEnabled: boolean;
  /** Pause between the sandbox's `sent`, `delivered` and `read` status webhooks. */
  sandboxStatusDelayMs: number;
  /** Messages per second one number may send through Parley (all processes together), 1–1000. */
  sendRatePerSecond: number;
  /**
   * How long a broadcast send whose outcome is unknown (its process died waiting for Meta) waits
   * for a status webhook before its recipient fails as `send_outcome_unknown` (never re-sent).
   */
  broadcastUncertainSeconds: number;
  /** A reply within this many hours of a broadcast message counts as a response to it. */
  broadcastResponseWindowHours: number;
  /** Active conversations with no message for this long are ended. */
  conversationTimeoutHours: number;
  /** Seconds between a failed webhook delivery and each of its first retries. */
  webhookRetryDelaysSeconds: number[];
  /** After the listed delays, retries back off exponentially until the delivery is this old (0: stop). */
  webhookRetryWindowHours: number;
  /** Longest wait between two retries of the exponential phase. */
  webhookRetryMaxDelaySeconds: number;
  /** Failed attempts in a row (no success between) that pause a webhook; 0 never pauses. */
  webhookPauseAfterFailures: number;
  /** …provided the failures have gone on for at least this long. */
  webhookPauseAfterHours: number;
  /** Longest time a delivery waits for earlier pending ones of its conversation. */
  webhookOrderWaitSeconds: number;
  /** Length in seconds of one `inactivity_minutes` minute (60; tests shorten it). */
  webhookInactivityMinuteSeconds: number;
  /** The AI model catalogue served at `/provider_models`. */
  providerModels: ProviderModel[];
  /** Where the sandbox posts its webhooks; unset: this process's own `/webhooks/whatsapp`. */
  sandboxWebhookUrl: string | undefined;
  meta: MetaConfig;
  /** Hosts, IPs or CIDRs that outbound requests may reach even though they are private or loopback. */
  outboundAllowlist: string[];
  /** Seconds between two looks at Meta's review of an open display-name request. */
  displayNamePollSeconds: number;
  /** How long a signed media download URL (`kapso.media_url`, proxy media `url`) stays valid. */
  mediaUrlTtlSeconds: number;
  /** Longest time media ingest may spend fetching its `source`. */
  mediaFetchTimeoutSeconds: number;
  /** Days an API request log row (`/api_logs`) is kept. */
  apiLogRetentionDays: number;
  /** Days a finished webhook delivery (`/webhook_deliveries`) is kept; pending ones stay. */
  webhookDeliveryRetentionDays: number;
}

export interface MetaConfig {
  appId: string | undefined;
  /** Verifies `X-Hub-Signature-256` on Meta's webhooks. */
  appSecret: string | undefined;
  /** Embedded Signup configuration id (hosted onboarding). */
  configurationId: string | undefined;
  /** Answers Meta's webhook verification (`hub.verify_token`). */
  webhookVerifyToken: string | undefined;
  graphUrl: string;
  graphVersion: string;
  /** How long one Graph API call may take before it counts as unanswered. */
  graphTimeoutSeconds: number;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function readPort(env: Env): number {
  const raw = env.PORT;
  if (raw === undefined || raw === "") return 8080;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT must be an integer between 0 and 65535 (got "${raw}")`);
  }
  return port;
}

function readUrl(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL (got "${raw}")`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must use one of ${protocols.join(", ")} (got "${url.protocol}")`);
  }
  return raw;
}

function readEnum<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!values.includes(raw as T)) {
    throw new ConfigError(`${name} must be one of ${values.join(", ")} (got "${raw}")`);
  }
  return raw as T;
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

function readKey(env: Env, name: string): Buffer | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, "hex") : Buffer.from(raw, "base64");
  if (key.length !== 32) {
    throw new ConfigError(
      `${name} must be 32 bytes, as 64 hex characters or Base64 (try: openssl rand -base64 32)`,
    );
  }
  return key;
}

function readNonNegativeInteger(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a non-negative integer (got "${raw}")`);
  return Number(raw);
}

function readPositiveInteger(env: Env, name: string, fallback: number, max?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new ConfigError(`${name} must be a positive integer (got "${raw}")`);
  }
  if (max !== undefined && Number(raw) > max) {
    throw new ConfigError(`${name} must be at most ${max} (got "${raw}")`);
  }
  return Number(raw);
}

function readProviderModelsFile(env: Env): ProviderModel[] {
  const file = env.PARLEY_PROVIDER_MODELS_FILE;
  if (!file) return DEFAULT_PROVIDER_MODELS;
  const models = readProviderModels(file);
  if (typeof models === "string") throw new ConfigError(`PARLEY_PROVIDER_MODELS_FILE ${models}`);
  return models;
}

function readDelays(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const items = raw.split(",").map((s) => s.trim());
  if (!items.every((s) => /^\d+(\.\d+)?$/.test(s))) {
    throw new ConfigError(`${name} must be a comma-separated list of seconds (got "${raw}")`);
  }
  return items.map(Number);
}

function readNonNegativeNumber(
  env: Env,
  name: string,
  fallback: number,
  options: { positive?: boolean } = {},
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw) || (options.positive && Number(raw) === 0)) {
    throw new ConfigError(
      `${name} must be a ${options.positive ? "positive" : "non-negative"} number (got "${raw}")`,
    );
  }
  return Number(raw);
}

function readList(env: Env, name: string): string[] {
  return (env[name] ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

export function loadConfig(env: Env = process.env): Config {
  const port = readPort(env);
  const host = env.HOST || "0.0.0.0";
  const databaseUrl = readUrl(env, "DATABASE_URL", ["postgres:", "postgresql:"]);
  const dataDir = path.resolve(env.PARLEY_DATA_DIR || "./data");
  const publicUrl = (readUrl(env, "PUBLIC_URL", ["http:", "https:"]) ?? `http://localhost:${port}`).replace(
    /\/+$/,
    "",
  );
  const logLevel = readEnum(env, "LOG_LEVEL", LOG_LEVELS, "info");
  const mode = readEnum(env, "PARLEY_ENV", ["development", "production"] as const, "development");
  const encryptionKey = readKey(env, "PARLEY_ENCRYPTION_KEY");
  if (mode === "production" && !encryptionKey) {
    throw new ConfigError("PARLEY_ENCRYPTION_KEY is required when PARLEY_ENV is production");
  }
  const graphVersion = env.META_GRAPH_VERSION || "v24.0";
  if (!/^v\d+\.\d+$/.test(graphVersion)) {
    throw new ConfigError(`META_GRAPH_VERSION must look like v24.0 (got "${graphVersion}")`);
  }
  return {
    port,
    host,
    databaseUrl,
    dataDir,
    publicUrl,
    logLevel,
    env: mode,
    encryptionKey,
    sandboxEnabled: readBoolean(env, "PARLEY_SANDBOX", !databaseUrl),
    sandboxStatusDelayMs: readNonNegativeInteger(env, "PARLEY_SANDBOX_STATUS_DELAY_MS", 300),
    providerModels: readProviderModelsFile(env),
    webhookRetryDelaysSeconds: readDelays(env, "PARLEY_WEBHOOK_RETRY_DELAYS_SECONDS", [10, 40, 90]),
    webhookRetryWindowHours: readNonNegativeNumber(env, "PARLEY_WEBHOOK_RETRY_WINDOW_HOURS", 24),
    webhookRetryMaxDelaySeconds: readNonNegativeNumber(env, "PARLEY_WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600, {
      positive: true,
    }),
    webhookPauseAfterFailures: readNonNegativeInteger(env, "PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES", 25),
    webhookPauseAfterHours: readNonNegativeNumber(env, "PARLEY_WEBHOOK_PAUSE_AFTER_HOURS", 6),
    webhookOrderWaitSeconds: readNonNegativeNumber(env, "PARLEY_WEBHOOK_ORDER_WAIT_SECONDS", 30),
    webhookInactivityMinuteSeconds: readNonNegativeNumber(
      env,
      "PARLEY_WEBHOOK_INACTIVITY_MINUTE_SECONDS",
      60,
      {
        positive: true,
      },
    ),
    conversationTimeoutHours: Math.max(
      1,
      readNonNegativeInteger(env, "PARLEY_CONVERSATION_TIMEOUT_HOURS", 24),
    ),
    sendRatePerSecond: readPositiveInteger(env, "PARLEY_SEND_RATE_PER_SECOND", 80, 1000),
    broadcastUncertainSeconds: readPositiveInteger(env, "PARLEY_BROADCAST_UNCERTAIN_SECONDS", 300),
    broadcastResponseWindowHours: readPositiveInteger(env, "PARLEY_BROADCAST_RESPONSE_WINDOW_HOURS", 72),
    sandboxWebhookUrl: readUrl(env, "PARLEY_SANDBOX_WEBHOOK_URL", ["http:", "https:"]),
    meta: {
      appId: env.META_APP_ID || undefined,
      appSecret: env.META_APP_SECRET || undefined,
      configurationId: env.META_CONFIGURATION_ID || undefined,
      webhookVerifyToken: env.META_WEBHOOK_VERIFY_TOKEN || undefined,
      graphUrl: (readUrl(env, "META_GRAPH_URL", ["http:", "https:"]) ?? "https://graph.facebook.com").replace(
        /\/+$/,
        "",
      ),
      graphVersion,
      graphTimeoutSeconds: readPositiveInteger(env, "META_GRAPH_TIMEOUT_SECONDS", 15),
    },
    outboundAllowlist: readList(env, "PARLEY_OUTBOUND_ALLOWLIST"),
    displayNamePollSeconds: readPositiveInteger(env, "PARLEY_DISPLAY_NAME_POLL_SECONDS", 600),
    mediaUrlTtlSeconds: readPositiveInteger(env, "PARLEY_MEDIA_URL_TTL_SECONDS", 3600),
    mediaFetchTimeoutSeconds: readPositiveInteger(env, "PARLEY_MEDIA_FETCH_TIMEOUT_SECONDS", 120),
    apiLogRetentionDays: readPositiveInteger(env, "PARLEY_API_LOG_RETENTION_DAYS", 30),
    webhookDeliveryRetentionDays: readPositiveInteger(env, "PARLEY_WEBHOOK_DELIVERY_RETENTION_DAYS", 30),
  };
}
