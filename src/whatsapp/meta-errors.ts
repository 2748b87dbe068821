import { randomBytes } from "node:crypto";
import type { MetaError } from "./graph-client.ts";

/**
 * Meta's error codes that Parley itself answers with (on the Meta proxy and in the sandbox),
 * with the HTTP status and `type` Meta uses for each.
 */
export const META_ERRORS = {
  /** Invalid or missing access token / API key. */
  authentication: { code: 190, status: 401, type: "OAuthException" },
  /** Malformed request or invalid parameter. */
  invalidParameter: { code: 100, status: 400, type: "OAuthException" },
  /** Unknown object id (e.g. a phone number id of another project). */
  unknownObject: { code: 100, subcode: 33, status: 400, type: "GraphMethodException" },
  /** Unsupported method or path. */
  unsupported: { code: 3, status: 400, type: "OAuthException" },
  /** Too many calls in a short time. */
  rateLimited: { code: 130429, status: 429, type: "OAuthException" },
  /** Outside the 24-hour customer service window. */
  reEngagement: { code: 131047, status: 400, type: "OAuthException" },
  /** Generic user error (e.g. the recipient cannot receive the message). */
  genericUser: { code: 131000, status: 500, type: "OAuthException" },
  /** Required parameter missing. */
  missingParameter: { code: 131008, status: 400, type: "OAuthException" },
  /** Parameter value not valid. */
  invalidParameterValue: { code: 131009, status: 400, type: "OAuthException" },
  /** Template does not exist in the language, or is not approved. */
  templateMissing: { code: 132001, status: 404, type: "OAuthException" },
  /** Template parameter count mismatch. */
  templateParamCount: { code: 132000, status: 400, type: "OAuthException" },
  /** Media upload/download problem. */
  mediaError: { code: 131053, status: 400, type: "OAuthException" },
} as const;

export type MetaErrorKind = keyof typeof META_ERRORS;

/** Meta's error body `{"error": {...}}` for `kind`, with Meta's fields and a fresh trace id. */
export function metaError(
  kind: MetaErrorKind,
  message: string,
  details?: string,
): { status: number; body: { error: MetaError } } {
  const spec = META_ERRORS[kind];
  const error: MetaError = {
    message,
    type: spec.type,
    code: spec.code,
    ...("subcode" in spec ? { error_subcode: spec.subcode } : {}),
    ...(details ? { error_data: { messaging_product: "whatsapp", details } } : {}),
    fbtrace_id: randomBytes(9).toString("base64url"),
  };
  return { status: spec.status, body: { error } };
}

/** The error Meta gives for an id it does not know or the caller may not see. */
export function unknownObjectError(id: string): { status: number; body: { error: MetaError } } {
  return metaError(
    "unknownObject",
    `Unsupported request - method type: get. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
  );
}

/** Thrown on the Meta proxy: answered as Meta's own error body with Meta's status. */
export class MetaApiError extends Error {
  readonly status: number;
  readonly body: { error: MetaError };
  readonly headers: Record<string, string> | undefined;

  constructor(error: { status: number; body: { error: MetaError } }, headers?: Record<string, string>) {
    super(error.body.error.message);
    this.name = "MetaApiError";
    this.status = error.status;
    this.body = error.body;
    this.headers = headers;
  }
}
