import type { AppContext } from "../../context.ts";
import { CursorList, errorResponses } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { registerRecurringJob } from "../../jobs/recurring.ts";
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
  registerRecurringJob(app, ctx, service.PURGE_API_LOGS_QUEUE, "23 * * * *", () => service.purgeApiLogs(ctx));
}
