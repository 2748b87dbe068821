import type { AppContext } from "../context.ts";
import type { Server } from "../http/types.ts";

/**
 * Runs `run` on pg-boss's durable cron schedule (`cron`, UTC): one firing across all processes,
 * taken by whichever process's worker gets it. Registered with the server's lifecycle.
 */
export function registerRecurringJob(
  app: Server,
  ctx: AppContext,
  queue: string,
  cron: string,
  run: () => Promise<unknown>,
): void {
  app.addHook("onReady", async () => {
    await ctx.jobs.createQueue(queue);
    await ctx.jobs.schedule(queue, cron);
    await ctx.jobs.work(queue, async () => {
      await run();
    });
  });
  app.addHook("onClose", async () => ctx.jobs.offWork(queue));
}
