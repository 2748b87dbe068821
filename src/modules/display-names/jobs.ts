import type { AppContext } from "../../context.ts";
import {
  DISPLAY_NAME_POLL_QUEUE,
  DISPLAY_NAME_SWEEP_QUEUE,
  pollDisplayNameRequest,
  sweepDisplayNameRequests,
} from "./service.ts";

/**
 * Starts this process's display-name workers: each open request's chained poll jobs, and a
 * sweep scheduled every minute (pg-boss cron, one firing across all processes) that restarts
 * the polls of requests whose job was lost.
 */
export async function startDisplayNameJobs(ctx: AppContext): Promise<void> {
  await ctx.jobs.createQueue(DISPLAY_NAME_POLL_QUEUE);
  await ctx.jobs.createQueue(DISPLAY_NAME_SWEEP_QUEUE);
  await ctx.jobs.work<{ request_id: string }>(
    DISPLAY_NAME_POLL_QUEUE,
    { pollingIntervalSeconds: 1 },
    async (jobs) => {
      for (const job of jobs) await pollDisplayNameRequest(ctx, job.data.request_id, { onlyIfDue: true });
    },
  );
  await ctx.jobs.work(DISPLAY_NAME_SWEEP_QUEUE, async () => {
    await sweepDisplayNameRequests(ctx);
  });
  await ctx.jobs.schedule(DISPLAY_NAME_SWEEP_QUEUE, "* * * * *");
}

export async function stopDisplayNameJobs(ctx: AppContext): Promise<void> {
  await ctx.jobs.offWork(DISPLAY_NAME_POLL_QUEUE);
  await ctx.jobs.offWork(DISPLAY_NAME_SWEEP_QUEUE);
}
