import type { MetaError } from "../whatsapp/graph-client.ts";
import { type MetaErrorKind, metaError, unknownObjectError } from "../whatsapp/meta-errors.ts";

/** A Graph API refusal: the sandbox answers `status` with Meta's `{"error": {...}}` body. */
export class MetaHttpError extends Error {
  readonly status: number;
  readonly body: { error: MetaError };

  constructor(status: number, body: { error: MetaError }) {
    super(body.error.message);
    this.name = "MetaHttpError";
    this.status = status;
    this.body = body;
  }
}

/** Throws Meta's error of `kind`; the message carries Meta's `(#code)` prefix. */
export function refuse(kind: MetaErrorKind, message: string, details?: string): never {
  const { status, body } = metaError(kind, message, details);
  body.error.message = `(#${body.error.code}) ${message}`;
  throw new MetaHttpError(status, body);
}

export function unknownObject(id: string): never {
  const { status, body } = unknownObjectError(id);
  throw new MetaHttpError(status, body);
}
