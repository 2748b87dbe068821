import { collectDefaultMetrics, Histogram, Registry } from "prom-client";
import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import type { Server } from "./types.ts";

/** `/healthz` (process is up), `/readyz` (database answers), `/metrics` (Prometheus). */
export function registerOpsRoutes(app: Server, ctx: AppContext): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: "parley_http_request_duration_seconds",
    help: "HTTP request duration by route and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook("onResponse", async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? "unmatched",
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  const hidden = { hide: true };
  app.get("/healthz", { schema: hidden }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: hidden }, async (_request, reply) => {
    try {
      await ctx.db.query(sql`SELECT 1`);
      return { status: "ready" };
    } catch (err) {
      ctx.log.warn({ err }, "readiness check failed");
      return reply.code(503).send({ status: "unavailable", error: "Database is not reachable" });
    }
  });
  app.get("/metrics", { schema: hidden }, async (_request, reply) => {
    reply.header("Content-Type", registry.contentType);
    return registry.metrics();
  });
}
