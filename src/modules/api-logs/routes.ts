import type { AppContext } from "../../context.ts";
import { CursorList, errorResponses } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { ExternalApiLog, ListApiLogsQuery } from "./schemas.ts";
import * as service from "./service.ts";

export function apiLogRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/api_logs",
    {
      schema: {
        tags: ["External API Logs"],
        operationId: "listApiLogs",
        summary: "List API logs",
        description:
          "Platform API and Meta proxy requests made with the project's keys, newest first. " +
          "`endpoint` matches part of the path (ignoring case); `errors_only` keeps statuses ≥ 400.",
        querystring: ListApiLogsQuery,
        response: { 200: CursorList(ExternalApiLog), ...errorResponses(422) },
      },
    },
    async (request) => service.listApiLogs(ctx, request.auth.projectId, request.query),
  );
}

/** Purges old request-log rows every hour (pg-boss cron: one firing across all processes). */
export function registerApiLogRetentionJob(app: Server, ctx: AppContext): void {
  app.addHook("onReady", async () => {
    await ctx.jobs.createQueue(service.PURGE_API_LOGS_QUEUE);
    await ctx.jobs.schedule(service.PURGE_API_LOGS_QUEUE, "23 * * * *");
    await ctx.jobs.work(service.PURGE_API_LOGS_QUEUE, async () => {
      await service.purgeApiLogs(ctx);
    });
  });
  app.addHook("onClose", async () => ctx.jobs.offWork(service.PURGE_API_LOGS_QUEUE));
}
