import { createHash } from "node:crypto";

// Meta's Embedded Signup, as the sandbox plays it. The customer's side (the dialog) is simulated
// by the hosted onboarding page, which mints a code `sandbox-…`; everything after that is the
// sandbox's Graph API answering Parley's server-side calls like Meta would. Nothing is stored:
// the token, the WABA and its number are all derived from the code, so the same code always
// leads to the same number.
//
// A scenario word right after `sandbox-` makes Meta refuse one step:
//   sandbox-expired-…       the code cannot be exchanged (Meta's 100/36007, code expired)
//   sandbox-no-waba-…       the token grants no WhatsApp Business Account (the customer shared none)
//   sandbox-pin-mismatch-…  registering the number fails (Meta's 133005, PIN mismatch)

export const SIGNUP_SCENARIOS = ["expired", "no-waba", "pin-mismatch"] as const;
export type SignupScenario = (typeof SIGNUP_SCENARIOS)[number];

const SIGNUP_TOKEN = /^sandbox-token-(?:(expired|no-waba|pin-mismatch)-)?([0-9a-f]{32})$/;

function hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** 15 digits (no leading zero) derived from `seed`: a Meta-style id. */
function digitsOf(seed: string): string {
  const n = BigInt(`0x${hex(seed).slice(0, 16)}`) % 900_000_000_000_000n;
  return String(n + 100_000_000_000_000n);
}

/** The scenario a signup code asks for (none: a successful signup). */
export function scenarioOfCode(code: string): SignupScenario | undefined {
  return SIGNUP_SCENARIOS.find((s) => code.startsWith(`sandbox-${s}-`));
}

/** The business token a code is exchanged for; it carries the code's scenario. */
export function signupToken(code: string): string {
  const scenario = scenarioOfCode(code);
  return `sandbox-token-${scenario ? `${scenario}-` : ""}${hex(code).slice(0, 32)}`;
}

/** What a business token from a simulated signup grants; undefined for other tokens. */
export function parseSignupToken(
  token: string | undefined,
): { scenario: SignupScenario | undefined; wabaId: string } | undefined {
  const match = token ? SIGNUP_TOKEN.exec(token) : null;
  if (!match) return undefined;
  return { scenario: match[1] as SignupScenario | undefined, wabaId: digitsOf(`waba:${match[2]}`) };
}

/** The one number a WABA has in the sandbox's world when Parley has none connected in it. */
export function signupNumberOf(wabaId: string): string {
  return digitsOf(`phone:${wabaId}`);
}
