import type { AppContext } from "../../context.ts";
import { newSandboxId, sandboxNumberProfile } from "../../sandbox/numbers.ts";
import { setWabaSubscribed } from "../../sandbox/store.ts";
import { presentPhoneNumber, type WhatsappPhoneNumber } from "./presenter.ts";
import * as store from "./store.ts";

/** `TIER_10K` → `"10000"`: Kapso's `whatsapp_business_manager_messaging_limit`. */
export function messagingLimitOf(tier: string | undefined): string | null {
  if (!tier) return null;
  if (tier === "TIER_UNLIMITED") return "UNLIMITED";
  const match = /^TIER_(\d+)(K?)$/.exec(tier);
  if (!match) return null;
  return String(Number(match[1]) * (match[2] ? 1000 : 1));
}

/** The columns Meta's `GET /{phone_number_id}` fills, from its answer. */
export function metaFields(info: Record<string, unknown>): Partial<store.PhoneNumberRow> {
  const text = (key: string) => (typeof info[key] === "string" ? (info[key] as string) : null);
  const display = text("display_phone_number");
  const tier = text("messaging_limit_tier") ?? undefined;
  return {
    display_phone_number: display,
    display_phone_number_normalized: display ? display.replace(/\D/g, "") : null,
    verified_name: text("verified_name"),
    quality_rating: text("quality_rating"),
    code_verification_status: text("code_verification_status"),
    name_status: text("name_status"),
    status: text("status"),
    throughput_tier: tier ?? null,
    messaging_limit: messagingLimitOf(tier),
    is_official_business_account:
      typeof info.is_official_business_account === "boolean" ? info.is_official_business_account : null,
    is_pin_enabled: typeof info.is_pin_enabled === "boolean" ? info.is_pin_enabled : null,
  };
}

/**
 * Gives a project a sandbox number of its own (a fresh Meta-style id in a fresh WABA), ready
 * to send and receive through the built-in sandbox.
 */
export async function createDefaultSandboxNumber(
  ctx: AppContext,
  projectId: string,
): Promise<WhatsappPhoneNumber> {
  const phoneNumberId = newSandboxId();
  const wabaId = newSandboxId();
  const row = await ctx.db.transaction(async (tx) => {
    // The sandbox is wired to Parley's own receiver, so its webhooks are verified from the start.
    await setWabaSubscribed(tx, wabaId, true);
    return store.insertPhoneNumber(tx, {
      project_id: projectId,
      kind: "sandbox",
      phone_number_id: phoneNumberId,
      business_account_id: wabaId,
      name: "Sandbox number",
      display_name: "Sandbox number",
      is_coexistence: false,
      webhook_verified_at: new Date().toISOString(),
      ...metaFields({ ...sandboxNumberProfile(phoneNumberId) }),
    });
  });
  return presentPhoneNumber(row);
}
