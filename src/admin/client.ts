import { CommandError } from "./commands.ts";
import type { ServerInfo } from "./server-info.ts";

/**
 * Runs a command on the running server. Resolves `undefined` when nothing answers at the
 * recorded address (a server that died without cleaning up), so the caller can go direct.
 */
export async function runOnServer(
  info: ServerInfo,
  name: string,
  args: Record<string, unknown>,
): Promise<{ result: unknown } | undefined> {
  let response: Response;
  try {
    response = await fetch(`${info.admin_url}/commands/${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${info.admin_secret}`, "content-type": "application/json" },
      body: JSON.stringify(args),
    });
  } catch {
    return undefined;
  }
  const body = (await response.json().catch(() => ({}))) as { result?: unknown; error?: string };
  if (!response.ok) throw new CommandError(body.error ?? `The server answered ${response.status}`);
  return { result: body.result };
}
