import { randomInt } from "node:crypto";
import { insertPhoneNumber, type PhoneNumberRow } from "../../src/modules/phone-numbers/store.ts";
import type { TestApp } from "./app.ts";

/** A random Meta-style phone number id (15 digits), unique enough for one test database. */
export function metaId(): string {
  return `${randomInt(100_000, 999_999)}${String(randomInt(0, 1_000_000_000)).padStart(9, "0")}`;
}

/** Inserts a live sandbox number for `projectId` straight into the store (no API involved). */
export function insertSandboxNumber(
  t: TestApp,
  projectId: string,
  overrides: Partial<PhoneNumberRow> = {},
): Promise<PhoneNumberRow> {
  const phoneNumberId = overrides.phone_number_id ?? metaId();
  return insertPhoneNumber(t.ctx.db, {
    project_id: projectId,
    kind: "sandbox",
    phone_number_id: phoneNumberId,
    business_account_id: "sandbox",
    name: "Sandbox number",
    display_phone_number: "+1 555-010-0000",
    display_phone_number_normalized: "15550100000",
    verified_name: "Parley Sandbox",
    ...overrides,
  });
}

/** A real 2×2 PNG, for media tests. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGP4z8DA8B+MgBgAHfAD/dPQfSYAAAAASUVORK5CYII=",
  "base64",
);
