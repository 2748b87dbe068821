import { randomBytes } from "node:crypto";
import { type Static, Type } from "typebox";
import type { AppContext } from "../context.ts";
import type { Queryable } from "../db/database.ts";
import { requireApiKey } from "../http/auth.ts";
import { envelope } from "../http/envelope.ts";
import { notFound } from "../http/errors.ts";
import { Envelope, errorResponses, Nullable, Timestamp } from "../http/schemas.ts";
import type { Server } from "../http/types.ts";
import { findProjectPhoneNumber } from "../modules/phone-numbers/store.ts";
import type { MetaError } from "../whatsapp/graph-client.ts";
import * as store from "./display-names-store.ts";
import { MetaHttpError, refuse, unknownObject } from "./errors.ts";
import { isMetaId } from "./numbers.ts";

// The sandbox playing Meta's display-name review. `POST /{phone_number_id}?new_display_name=`
// submits a name as on Meta; `GET /{phone_number_id}?fields=new_display_name,new_name_status`
// (served by graph.ts) reports the review. How the review ends is set per number through
// `/sandbox/display_name_outcomes`: approved at once (`instant`, Meta's
// AVAILABLE_WITHOUT_REVIEW), under review for `review_ms` then APPROVED (`review`), or refused
// with Meta's error (`decline`). A number without a setting is approved at once.

/** Meta's answer for a name Meta declines, unless the setting gives other error fields. */
export const DEFAULT_DECLINE_ERROR = {
  code: 100,
  error_subcode: 2388135,
  type: "OAuthException",
  message: "Display name does not match business verification details",
} as const;

/**
 * The display-name fields of `GET /{phone_number_id}`: the name under review and its status,
 * and once approved, the approved name as the number's `verified_name` / `name_status`.
 */
export async function displayNameFields(
  db: Queryable,
  phoneNumberId: string,
): Promise<Record<string, string>> {
  const submitted = await store.findSubmittedName(db, phoneNumberId);
  if (!submitted) return {};
  if (!submitted.decided) {
    return { new_display_name: submitted.new_display_name, new_name_status: "PENDING_REVIEW" };
  }
  return {
    new_display_name: submitted.new_display_name,
    new_name_status: submitted.decision,
    verified_name: submitted.new_display_name,
    name_status: submitted.decision,
  };
}

/**
 * `POST /{phone_number_id}` (`new_display_name` in the query or a JSON body): Meta's
 * display-name submission. Served by the sandbox's Graph routes (routes.ts).
 */
export async function submitDisplayName(ctx: AppContext, phoneNumberId: string, name: string | undefined) {
  if (!isMetaId(phoneNumberId)) unknownObject(phoneNumberId);
  if (name === undefined || name.trim() === "") {
    refuse("invalidParameter", "The parameter new_display_name is required.");
  }
  if (name.length > 256)
    refuse("invalidParameter", "Param new_display_name must be at most 256 characters long.");
  const outcome = await store.findOutcome(ctx.db, phoneNumberId);
  if (outcome?.outcome === "decline") {
    const error: MetaError = {
      ...DEFAULT_DECLINE_ERROR,
      ...outcome.error,
      fbtrace_id: randomBytes(9).toString("base64url"),
    } as MetaError;
    throw new MetaHttpError(400, { error });
  }
  const review = outcome?.outcome === "review";
  await store.saveSubmittedName(ctx.db, {
    phoneNumberId,
    name,
    decision: review ? "APPROVED" : "AVAILABLE_WITHOUT_REVIEW",
    reviewMs: review ? outcome.review_ms : 0,
  });
  return { success: true };
}

// ---------------------------------------------------------------------------------------------
// Control: how the sandbox reviews a number's display names (API-key authenticated)
// ---------------------------------------------------------------------------------------------

const OUTCOMES = ["instant", "review", "decline"] as const;

export const SetOutcomeBody = Type.Object(
  {
    phone_number_id: Type.String({ minLength: 1, maxLength: 64 }),
    outcome: Type.Enum(OUTCOMES, {
      description:
        "instant: approved at once (AVAILABLE_WITHOUT_REVIEW); review: PENDING_REVIEW for review_ms, then APPROVED; decline: Meta refuses the name with `error`",
    }),
    review_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, default: 5_000 })),
    error: Type.Optional(
      Type.Object(
        {
          code: Type.Integer(),
          error_subcode: Type.Optional(Type.Integer()),
          type: Type.Optional(Type.String({ maxLength: 100 })),
          message: Type.Optional(Type.String({ maxLength: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const Outcome = Type.Object({
  phone_number_id: Type.String(),
  outcome: Type.Enum(OUTCOMES),
  review_ms: Type.Integer(),
  error: Nullable(
    Type.Object({
      code: Type.Integer(),
      error_subcode: Type.Optional(Type.Integer()),
      type: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
  ),
  updated_at: Timestamp,
});

const OutcomeQuery = Type.Object({ phone_number_id: Type.String({ minLength: 1, maxLength: 64 }) });

async function requireNumber(ctx: AppContext, projectId: string, phoneNumberId: string) {
  if (!(await findProjectPhoneNumber(ctx.db, projectId, phoneNumberId))) throw notFound("Phone number");
}

async function setOutcome(ctx: AppContext, projectId: string, input: Static<typeof SetOutcomeBody>) {
  await requireNumber(ctx, projectId, input.phone_number_id);
  return store.saveOutcome(ctx.db, {
    phoneNumberId: input.phone_number_id,
    outcome: input.outcome,
    reviewMs: input.outcome === "review" ? (input.review_ms ?? 5_000) : 0,
    error: input.outcome === "decline" ? { ...DEFAULT_DECLINE_ERROR, ...input.error } : null,
  });
}

export function displayNameControlRoutes(app: Server, ctx: AppContext): void {
  requireApiKey(app, ctx);
  const tags = ["Sandbox"];

  app.post(
    "/display_name_outcomes",
    {
      schema: {
        tags,
        summary: "Set how the sandbox reviews a number's display-name requests",
        body: SetOutcomeBody,
        response: { 201: Envelope(Outcome), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(envelope(await setOutcome(ctx, request.auth.projectId, request.body))),
  );

  app.delete(
    "/display_name_outcomes",
    {
      schema: {
        tags,
        summary: "Reset a number to instant display-name approval",
        querystring: OutcomeQuery,
        response: { 204: Type.Null(), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      await requireNumber(ctx, request.auth.projectId, request.query.phone_number_id);
      await store.deleteOutcome(ctx.db, request.query.phone_number_id);
      return reply.code(204).send(null);
    },
  );
}
