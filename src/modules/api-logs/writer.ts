import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from "fastify";
import sql, { bulk } from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";

/** One Platform API or Meta proxy request, as `GET /api_logs` reports it. */
export interface ApiLogEntry {
  projectId: string;
  apiKeyId: string | null;
  apiKeyName: string | null;
  endpoint: string;
  method: string;
  status: number;
  responseTimeMs: number;
  ip: string | null;
  errorMessage: string | null;
  /** When the request arrived. */
  createdAt: string;
}

const FLUSH_MS = 200;
const MAX_BATCH = 500;
/** Entries kept while the database refuses them; beyond this the oldest are dropped (and logged). */
const MAX_BUFFERED = 20_000;
const MAX_ENDPOINT = 2048;
const MAX_ERROR = 1000;

/**
 * Collects request-log entries in memory and writes them with one multi-row INSERT every
 * 200 ms (or at once when 500 are waiting), so a request never waits for its log row and a busy
 * server writes a handful of statements a second instead of one per request. `close()` writes
 * whatever is left, so a normal shutdown loses nothing; a killed process loses at most the
 * last 200 ms of entries.
 */
export class ApiLogWriter {
  private buffer: ApiLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private readonly db: Queryable;
  private readonly log: FastifyBaseLogger;

  constructor(db: Queryable, log: FastifyBaseLogger) {
    this.db = db;
    this.log = log;
  }

  add(entry: ApiLogEntry): void {
    this.buffer.push(entry);
    if (this.buffer.length > MAX_BUFFERED) {
      const dropped = this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
      this.log.warn({ dropped: dropped.length }, "api log buffer full: oldest entries dropped");
    }
    if (this.closed || this.buffer.length >= MAX_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes everything buffered so far; resolves once it is in the database (or failed). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writeAll());
    return this.writing;
  }

  /** Stops the timer and writes what is left. Entries added later are written at once. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, MAX_BATCH);
      try {
        await insertApiLogs(this.db, batch);
      } catch (err) {
        // Keep them for the next flush (bounded by MAX_BUFFERED) unless we are shutting down.
        this.log.error({ err, entries: batch.length }, "could not write api log entries");
        if (!this.closed) {
          this.buffer.unshift(...batch);
          this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS * 10);
        }
        return;
      }
    }
  }
}

export async function insertApiLogs(db: Queryable, entries: ApiLogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db.query(sql`
    INSERT INTO api_logs (project_id, api_key_id, api_key_name, endpoint, http_method, response_status,
      response_time_ms, ip_address, error_message, created_at)
    VALUES ${bulk(
      entries.map((e) => [
        e.projectId,
        e.apiKeyId,
        e.apiKeyName,
        e.endpoint,
        e.method,
        e.status,
        e.responseTimeMs,
        e.ip,
        e.errorMessage,
        e.createdAt,
      ]),
    )}`);
}

/** The error text of an error response: Parley's `{"error": "…"}` or Meta's `{"error": {"message"}}`. */
export function errorMessageOf(payload: unknown): string | null {
  const text = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString() : null;
  if (!text) return null;
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    const message =
      typeof error === "string"
        ? error
        : error && typeof error === "object" && typeof (error as { message?: unknown }).message === "string"
          ? (error as { message: string }).message
          : null;
    return message === null ? null : message.slice(0, MAX_ERROR);
  } catch {
    return null;
  }
}

const errorMessages = new WeakMap<FastifyRequest, string>();

/**
 * Logs every request of `scope` that a project key authenticated (requests refused for a
 * missing or bad key belong to no project and are not logged). The endpoint is the path
 * without host or query string, so nothing passed in a query reaches the log.
 */
export function logApiRequests(scope: FastifyInstance, writer: ApiLogWriter): void {
  scope.addHook("onSend", async (request, reply, payload) => {
    if (reply.statusCode >= 400 && request.auth) {
      const message = errorMessageOf(payload);
      if (message) errorMessages.set(request, message);
    }
    return payload;
  });
  scope.addHook("onResponse", async (request, reply) => {
    if (!request.auth) return;
    const elapsed = reply.elapsedTime;
    writer.add({
      projectId: request.auth.projectId,
      apiKeyId: request.auth.keyId,
      apiKeyName: request.auth.keyName,
      endpoint: request.url.split("?")[0]!.slice(0, MAX_ENDPOINT),
      method: request.method,
      status: reply.statusCode,
      responseTimeMs: Math.round(elapsed * 100) / 100,
      ip: request.ip ?? null,
      errorMessage: errorMessages.get(request) ?? null,
      createdAt: new Date(Date.now() - elapsed).toISOString(),
    });
  });
}
