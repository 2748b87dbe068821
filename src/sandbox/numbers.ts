import { randomInt } from "node:crypto";

/** The WABA of a sandbox number that Parley does not know (a direct caller's own test id). */
export const DEFAULT_SANDBOX_WABA = "sandbox";

/** What the sandbox reports for every number: fixed, healthy values derived from the id. */
export interface SandboxNumberProfile {
  id: string;
  display_phone_number: string;
  verified_name: string;
  quality_rating: string;
  code_verification_status: string;
  name_status: string;
  platform_type: string;
  throughput: { level: string };
  messaging_limit_tier: string;
  status: string;
  is_official_business_account: boolean;
  is_pin_enabled: boolean;
  account_mode: string;
}

/** `123456789012345` → `+1 555-901-2345`: a fictional US 555 number from the id's last digits. */
export function sandboxDisplayNumber(phoneNumberId: string): string {
  const digits = phoneNumberId.replace(/\D/g, "").slice(-7).padStart(7, "0");
  return `+1 555-${digits.slice(0, 3)}-${digits.slice(3)}`;
}

export function sandboxNumberProfile(phoneNumberId: string): SandboxNumberProfile {
  return {
    id: phoneNumberId,
    display_phone_number: sandboxDisplayNumber(phoneNumberId),
    verified_name: "Parley Sandbox",
    quality_rating: "GREEN",
    code_verification_status: "VERIFIED",
    name_status: "APPROVED",
    platform_type: "CLOUD_API",
    throughput: { level: "STANDARD" },
    messaging_limit_tier: "TIER_1K",
    status: "CONNECTED",
    is_official_business_account: false,
    is_pin_enabled: false,
    account_mode: "SANDBOX",
  };
}

/** A Meta-style numeric id (15 digits) for a new sandbox number or WABA. */
export function newSandboxId(): string {
  return `${randomInt(100_000, 999_999)}${String(randomInt(0, 1_000_000_000)).padStart(9, "0")}`;
}

/** Meta ids are digit strings; anything else is an object the sandbox cannot have. */
export function isMetaId(value: string): boolean {
  return /^\d{1,30}$/.test(value);
}
