import fs from "node:fs";
import { type Static, Type } from "typebox";
import { Value } from "typebox/value";
import { Nullable, Uuid } from "../../http/schemas.ts";

const Effort = Type.Enum(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);
const CacheTtl = Type.Enum(["5m", "1h"]);

/** The `ProviderModel` schema of the Kapso Platform API. */
export const ProviderModel = Type.Object({
  id: Uuid,
  name: Type.String({ minLength: 1 }),
  provider: Nullable(Type.String()),
  reasoning_model: Type.Boolean(),
  thinking_mode: Type.Enum(["disabled", "manual", "adaptive", "always_adaptive"]),
  supports_custom_sampling: Type.Boolean(),
  supported_reasoning_efforts: Type.Array(Effort),
  default_reasoning_effort: Nullable(Effort),
  supported_prompt_cache_ttls: Type.Array(CacheTtl),
  default_prompt_cache_ttl: Nullable(CacheTtl),
  api_surface: Type.Enum(["provider_default", "chat_completions", "responses"]),
});

export type ProviderModel = Static<typeof ProviderModel>;

const model = (
  id: string,
  name: string,
  provider: string,
  reasoning: boolean,
  extra: Partial<ProviderModel> = {},
): ProviderModel => ({
  id,
  name,
  provider,
  reasoning_model: reasoning,
  thinking_mode: reasoning ? "adaptive" : "disabled",
  supports_custom_sampling: !reasoning,
  supported_reasoning_efforts: reasoning ? ["low", "medium", "high"] : [],
  default_reasoning_effort: reasoning ? "medium" : null,
  supported_prompt_cache_ttls: [],
  default_prompt_cache_ttl: null,
  api_surface: "provider_default",
  ...extra,
});

/** Served when `PARLEY_PROVIDER_MODELS_FILE` is not set. Parley runs no models itself. */
export const DEFAULT_PROVIDER_MODELS: ProviderModel[] = [
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d01", "gpt-4.1", "OpenAI", false, { api_surface: "responses" }),
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d02", "gpt-4.1-mini", "OpenAI", false, {
    api_surface: "responses",
  }),
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d03", "o4-mini", "OpenAI", true, { api_surface: "responses" }),
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d04", "claude-sonnet-4-5", "Anthropic", true, {
    thinking_mode: "manual",
    supported_prompt_cache_ttls: ["5m", "1h"],
    default_prompt_cache_ttl: "5m",
  }),
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d05", "claude-haiku-4-5", "Anthropic", false, {
    supported_prompt_cache_ttls: ["5m", "1h"],
    default_prompt_cache_ttl: "5m",
  }),
  model("0b7f3c52-6a1e-4c1b-9d3e-1f2a3b4c5d06", "gemini-2.5-flash", "Google", true),
];

/**
 * Reads the deployment's catalogue: a JSON array of `ProviderModel` objects. Returns an error
 * sentence instead of throwing, so configuration loading can name the variable.
 */
export function readProviderModels(file: string): ProviderModel[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    return `cannot be read as JSON (${(err as Error).message})`;
  }
  if (!Array.isArray(parsed)) return "must contain a JSON array of provider models";
  for (const [i, item] of parsed.entries()) {
    const [first] = Value.Errors(ProviderModel, item);
    if (first) return `item ${i}${first.instancePath.replace(/\//g, ".")} ${first.message}`;
  }
  return parsed as ProviderModel[];
}
