import type { AppContext } from "../context.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import type { GraphTarget } from "./graph-client.ts";

/** The token the sandbox expects from Parley (it is not a secret: sandbox numbers are fake). */
export const SANDBOX_ACCESS_TOKEN = "sandbox";

/**
 * Where Graph calls for `number` go: Meta with the number's decrypted token, or — for a sandbox
 * number — this process's own sandbox, over HTTP, exactly like Meta.
 */
export function graphTargetFor(
  ctx: AppContext,
  number: Pick<PhoneNumberRow, "kind" | "access_token_encrypted">,
): GraphTarget {
  if (number.kind === "sandbox") {
    return {
      baseUrl: `${ctx.selfUrl}/sandbox/graph`,
      version: ctx.config.meta.graphVersion,
      accessToken: SANDBOX_ACCESS_TOKEN,
    };
  }
  if (!number.access_token_encrypted) throw new Error("production number without an access token");
  return {
    baseUrl: ctx.config.meta.graphUrl,
    version: ctx.config.meta.graphVersion,
    accessToken: ctx.cipher.decrypt(number.access_token_encrypted),
  };
}
