import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";
import { type Dispatcher, request as httpRequest, type FormData as UndiciFormData } from "undici";

/** Meta's error object, as the Graph API returns it under `error`. */
export interface MetaError {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_data?: unknown;
  error_user_title?: string;
  error_user_msg?: string;
  fbtrace_id?: string;
}

/** A failed Graph call. `status` is Meta's HTTP status, or 0 when Meta could not be reached. */
export class GraphApiError extends Error {
  readonly status: number;
  readonly error: MetaError;
  readonly retryAfterSeconds: number | undefined;
  /**
   * True when the request may have reached Meta without its answer reaching us (a timeout or a
   * dropped connection): Meta may have acted on it.
   */
  readonly unanswered: boolean;

  constructor(status: number, error: MetaError, retryAfterSeconds?: number, unanswered = false) {
    super(error.message);
    this.name = "GraphApiError";
    this.status = status;
    this.error = error;
    this.retryAfterSeconds = retryAfterSeconds;
    this.unanswered = unanswered;
  }
}

/** Where a call goes: Meta (or the sandbox, which answers the same API) with a number's token. */
export interface GraphTarget {
  baseUrl: string;
  version: string;
  accessToken: string;
}

export interface GraphRequest {
  method?: "GET" | "POST" | "DELETE";
  /** Path after the version, e.g. `/1234567890/messages`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  /** A multipart body (media upload); its parts may be file-backed Blobs, read at each try. */
  form?: FormData;
  /** Raw bytes, sent as `application/octet-stream` (resumable upload). */
  bytes?: Blob;
  /** Extra headers, such as `file_offset` of a resumable upload. */
  headers?: Record<string, string>;
  /** How the token is presented: `Bearer` (default) or `OAuth`, as Meta's upload API documents. */
  authScheme?: "Bearer" | "OAuth";
  /**
   * `idempotent` (default for GET/DELETE) retries 429, 5xx and network failures.
   * `unsafe` (default for POST) retries only what Meta cannot have acted on: 429 and a refused
   * connection — a timeout or 5xx after a send might have sent it, so it is not repeated.
   */
  retry?: "idempotent" | "unsafe";
  timeoutMs?: number;
}

/** A Graph API response: status, headers (lower-case names) and the body as a stream. */
export type GraphResponse = Dispatcher.ResponseData;

type GraphCall = Pick<Dispatcher.RequestOptions, "method" | "headers" | "body">;

export interface GraphClientOptions {
  log: FastifyBaseLogger;
  timeoutMs?: number;
  maxRetries?: number;
  /** First backoff delay; doubled each retry, with jitter. */
  baseDelayMs?: number;
  /** Longest wait honoured from a `Retry-After` header before giving up. */
  maxRetryAfterMs?: number;
}

function transportError(message: string): MetaError {
  return { message, type: "ParleyTransportError", code: 0 };
}

function isMetaError(value: unknown): value is MetaError {
  const e = value as MetaError | undefined;
  return typeof e === "object" && e !== null && typeof e.message === "string" && typeof e.code === "number";
}

/** The one client for every call to Meta's Graph API (and to the sandbox standing in for it). */
export class GraphClient {
  readonly #log: FastifyBaseLogger;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #baseDelayMs: number;
  readonly #maxRetryAfterMs: number;

  constructor(options: GraphClientOptions) {
    this.#log = options.log.child({ component: "graph" });
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#baseDelayMs = options.baseDelayMs ?? 250;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
  }

  url(target: GraphTarget, path: string, query?: GraphRequest["query"]): URL {
    const url = new URL(`${target.baseUrl}/${target.version}${path.startsWith("/") ? path : `/${path}`}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  /** Calls the Graph API and returns its JSON; throws `GraphApiError` with Meta's error object. */
  async request<T = unknown>(target: GraphTarget, request: GraphRequest): Promise<T> {
    const method = request.method ?? "GET";
    const retry = request.retry ?? (method === "POST" ? "unsafe" : "idempotent");
    const url = this.url(target, request.path, request.query);
    const response = await this.#withRetries(method, url, retry, request.timeoutMs, () => ({
      method,
      headers: {
        ...request.headers,
        authorization: `${request.authScheme ?? "Bearer"} ${target.accessToken}`,
        ...(request.json !== undefined ? { "content-type": "application/json" } : {}),
        ...(request.bytes !== undefined ? { "content-type": "application/octet-stream" } : {}),
      },
      body:
        request.json !== undefined
          ? JSON.stringify(request.json)
          : // Node's FormData is undici's own; only the type declarations are two.
            ((request.form as UndiciFormData | undefined) ??
            (request.bytes && Readable.fromWeb(request.bytes.stream() as WebReadableStream))),
    }));
    const text = await response.body.text();
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  /**
   * GETs an absolute URL Meta handed out (a media URL), with the number's token; the caller
   * streams (or reads) the successful response's `body`.
   */
  async download(target: GraphTarget, absoluteUrl: string): Promise<GraphResponse> {
    return this.#withRetries("GET", new URL(absoluteUrl), "idempotent", undefined, () => ({
      method: "GET",
      headers: { authorization: `Bearer ${target.accessToken}` },
    }));
  }

  async #withRetries(
    method: string,
    url: URL,
    retry: "idempotent" | "unsafe",
    timeoutMs: number | undefined,
    init: () => GraphCall,
  ): Promise<GraphResponse> {
    // Logged without query string values that could carry secrets.
    const where = `${url.origin}${url.pathname}`;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let response: GraphResponse | undefined;
      let failure: GraphApiError;
      try {
        // Redirects are not followed (undici's request does not): Meta answers without them.
        response = await httpRequest(url, {
          ...init(),
          signal: AbortSignal.timeout(timeoutMs ?? this.#timeoutMs),
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        const refused = code === "ECONNREFUSED";
        const timedOut = (err as Error).name === "TimeoutError";
        failure = new GraphApiError(
          0,
          transportError(
            timedOut
              ? "The WhatsApp Cloud API did not answer in time"
              : "Could not reach the WhatsApp Cloud API",
          ),
          undefined,
          !refused,
        );
        this.#log.warn(
          {
            method,
            url: where,
            attempt,
            ms: Math.round(performance.now() - started),
            err: code ?? (err as Error).name,
          },
          "graph call failed",
        );
        if (attempt < this.#maxRetries && (retry === "idempotent" || refused)) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw failure;
      }
      const ms = Math.round(performance.now() - started);
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        this.#log.debug({ method, url: where, status, attempt, ms }, "graph call");
        return response;
      }
      const body = await response.body.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const metaError = (parsed as { error?: unknown } | undefined)?.error;
      const retryAfter = Number(response.headers["retry-after"]);
      failure = new GraphApiError(
        status,
        isMetaError(metaError)
          ? metaError
          : transportError(`The WhatsApp Cloud API answered ${status}: ${body.slice(0, 200)}`),
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
      this.#log.warn(
        { method, url: where, status, attempt, ms, code: failure.error.code },
        "graph call refused",
      );
      const retryable = status === 429 || (retry === "idempotent" && status >= 500);
      const waitMs = failure.retryAfterSeconds ? failure.retryAfterSeconds * 1000 : this.#backoff(attempt);
      if (attempt < this.#maxRetries && retryable && waitMs <= this.#maxRetryAfterMs) {
        await sleep(waitMs);
        continue;
      }
      throw failure;
    }
  }

  #backoff(attempt: number): number {
    const base = this.#baseDelayMs * 2 ** attempt;
    return base / 2 + Math.random() * base;
  }
}
