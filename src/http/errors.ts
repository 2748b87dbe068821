import type { FastifyError, FastifyInstance } from "fastify";
import { MetaApiError } from "../whatsapp/meta-errors.ts";

/**
 * An error that answers the request with `status` and `{"error": message, ...extra}`.
 * Services throw these; the one error mapper below turns them into responses.
 */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    statusCode: number,
    message: string,
    options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.statusCode = statusCode;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const unauthorized = (message = "Missing or invalid API key") => new HttpError(401, message);
export const forbidden = (message: string) => new HttpError(403, message);
export const notFound = (resource = "Resource") => new HttpError(404, `${resource} not found`);
export const conflict = (message: string) => new HttpError(409, message);
/** 422 for a rule about one field; `field` leads the message so the caller sees what to fix. */
export const invalid = (field: string, problem: string) => new HttpError(422, `${field} ${problem}`);
export const unprocessable = (message: string) => new HttpError(422, message);

interface AjvIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** `/inbox_embed/allowed_origins/0` → `inbox_embed.allowed_origins[0]`. */
function fieldName(instancePath: string, extra?: string): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (extra) parts.push(extra);
  return parts.reduce(
    (acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part),
    "",
  );
}

function describeIssue(issue: AjvIssue, where: string): string {
  const p = issue.params;
  switch (issue.keyword) {
    case "required":
      return `${fieldName(issue.instancePath, String(p.missingProperty))} is required`;
    case "additionalProperties":
      return `${fieldName(issue.instancePath, String(p.additionalProperty))} is not allowed`;
    case "enum":
      return `${fieldName(issue.instancePath) || where} must be one of: ${(p.allowedValues as unknown[]).join(", ")}`;
    case "format":
      return `${fieldName(issue.instancePath) || where} must be a valid ${p.format}`;
    case "type": {
      const field = fieldName(issue.instancePath);
      return field
        ? `${field} must be ${article(String(p.type))}`
        : `Request ${where} must be ${article(String(p.type))}`;
    }
    default:
      return `${fieldName(issue.instancePath) || where} ${issue.message ?? "is invalid"}`;
  }
}

function article(type: string): string {
  const t = type.replace(/,null$/, "");
  const label =
    t === "integer" ? "an integer" : t === "object" ? "an object" : t === "array" ? "an array" : `a ${t}`;
  return type.endsWith(",null") ? `${label} or null` : label;
}

/** `inbox_embed_id` → `Inbox embed`: a bad path id answers 404 for the resource it names. */
function resourceFromParam(instancePath: string): string {
  const name = instancePath.split("/").filter(Boolean)[0] ?? "";
  const base = name.replace(/_id$/, "").replace(/_/g, " ");
  return base && base !== "id" ? base.charAt(0).toUpperCase() + base.slice(1) : "Resource";
}

/** The single error mapper: every failure leaves as `{"error": "..."}` with the right status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `Route ${request.method} ${request.url.split("?")[0]} not found` });
  });

  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof MetaApiError) {
      if (error.headers) reply.headers(error.headers);
      return reply.code(error.status).send(error.body);
    }
    if (error instanceof HttpError) {
      if (error.headers) reply.headers(error.headers);
      return reply.code(error.statusCode).send({ error: error.message, ...error.extra });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const where = fastifyError.validationContext ?? "body";
      const issue = fastifyError.validation[0] as AjvIssue;
      if (where === "params") {
        return reply.code(404).send({ error: `${resourceFromParam(issue.instancePath)} not found` });
      }
      return reply.code(422).send({ error: describeIssue(issue, where) });
    }
    switch (fastifyError.code) {
      case "FST_ERR_CTP_INVALID_JSON_BODY":
        return reply.code(400).send({ error: "Request body is not valid JSON" });
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
        return reply.code(400).send({ error: "Request body is empty but Content-Type is application/json" });
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return reply
          .code(415)
          .send({ error: `Unsupported Content-Type: ${request.headers["content-type"] ?? ""}` });
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return reply.code(413).send({ error: "Request body is too large" });
    }
    if (error instanceof SyntaxError) {
      return reply.code(400).send({ error: "Request body is not valid JSON" });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: fastifyError.message });
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send({ error: "Internal server error", request_id: request.id });
  });
}
