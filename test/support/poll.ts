import { setTimeout as sleep } from "node:timers/promises";

/**
 * Reads every `intervalMs` until `ok` holds for what was read, and answers that; throws after
 * `timeoutMs` (generous by default: a loaded CI machine is slow, a healthy run fast).
 */
export async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean | Promise<boolean>,
  { timeoutMs = 90_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (await ok(value)) return value;
    if (Date.now() > deadline) throw new Error("condition not met");
    await sleep(intervalMs);
  }
}
