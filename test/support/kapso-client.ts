import assert from "node:assert/strict";
import { GraphApiError, WhatsAppClient } from "@kapso/whatsapp-cloud-api";

// The official client (`@kapso/whatsapp-cloud-api`) as the Meta-proxy tests drive it.

/** The client pointed at a test server's Meta proxy, authenticated with `apiKey`. */
export function kapsoClient(serverUrl: string, apiKey: string): WhatsAppClient {
  return new WhatsAppClient({ baseUrl: `${serverUrl}/meta/whatsapp`, kapsoApiKey: apiKey });
}

/** The client's GraphApiError for a call that must fail. */
export async function graphError(promise: Promise<unknown>): Promise<GraphApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GraphApiError, String(err));
    return err;
  }
  assert.fail("expected a GraphApiError");
}
