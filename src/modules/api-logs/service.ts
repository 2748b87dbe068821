import sql from "sql-template-tag";
import type { AppContext } from "../../context.ts";
import { purgeInBatches } from "../../db/purge.ts";
import { cursorPage, cursorQuery, whereAll } from "../../http/pagination.ts";
import type { ApiLog, ListApiLogsFilters } from "./schemas.ts";

export const PURGE_API_LOGS_QUEUE = "purge-api-logs";
const PERIOD_HOURS = { "24h": 24, "7d": 168, "30d": 720 } as const;

/** The project's request log, newest first, with the §6 filters and cursor paging. */
export async function listApiLogs(ctx: AppContext, projectId: string, q: ListApiLogsFilters) {
  const params = { limit: q.limit ?? 20, before: q.before, after: q.after };
  const cursor = cursorQuery(params, { sql: sql`created_at`, name: "created_at", idSql: sql`id` });
  const c = [
    sql`project_id = ${projectId}`,
    sql`created_at > clock_timestamp() - make_interval(hours => ${PERIOD_HOURS[q.period ?? "24h"]})`,
    cursor.where,
  ];
  if (q.endpoint) c.push(sql`strpos(lower(endpoint), lower(${q.endpoint})) > 0`);
  if (q.status_code !== undefined) c.push(sql`response_status = ${q.status_code}`);
  if (q.errors_only) c.push(sql`response_status >= 400`);
  const rows = await ctx.db.query<ApiLog>(sql`
    SELECT id, endpoint, http_method, response_status, response_time_ms, ip_address, error_message,
           created_at, api_key_id, api_key_name
    FROM api_logs WHERE ${whereAll(c)} ${cursor.orderBy} ${cursor.limit}`);
  return cursorPage(rows, params, cursor.direction, (r) => ({
    column: "created_at",
    value: r.created_at,
    id: r.id,
  }));
}

/** Deletes log rows older than `PARLEY_API_LOG_RETENTION_DAYS`, in batches. Returns how many. */
export function purgeApiLogs(ctx: AppContext): Promise<number> {
  return purgeInBatches(
    ctx.db,
    (limit) => sql`
      DELETE FROM api_logs WHERE id IN (
        SELECT id FROM api_logs
        WHERE created_at < clock_timestamp() - make_interval(days => ${ctx.config.apiLogRetentionDays})
        LIMIT ${limit})
      RETURNING id`,
  );
}
