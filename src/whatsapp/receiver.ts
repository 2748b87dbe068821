import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { groupCommit } from "../db/group-commit.ts";
import type { MetaPayload } from "../events/publish.ts";
import type { Server } from "../http/types.ts";
import { lookUpLivePhoneNumber, type PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { ingestValues, publishIngestEvents, type WebhookValue } from "./ingest.ts";
import { sandboxAppSecret, verifyMetaSignature } from "./webhook-signature.ts";

/**
 * Up to 100 webhooks in one transaction (Meta sends one message or status per webhook), two
 * transactions at a time: while one waits on PostgreSQL, the other is being built in Node, and
 * one waiting on a row lock does not hold up the rest. On two CPUs, in bench/ingest.ts, two gave
 * a lower p99 and used less CPU per message than three or four (fewer, larger batches); one used
 * less still at about the same p99, but leaves nothing running while its transaction waits.
 */
const INGEST_BATCHING = { maxBatch: 100, parallel: 2 };

interface WebhookBody {
  object?: string;
  entry?: { id?: string; changes?: { field?: string; value?: WebhookValue }[] }[];
}

/** A verified webhook's changes for Parley's numbers, and what its numbers' `meta` webhooks get. */
interface VerifiedWebhook {
  routed: { number: PhoneNumberRow; value: WebhookValue }[];
  forwards: MetaPayload[];
}

/**
 * Meta's webhook endpoint. Verification (GET) answers `hub.challenge` when `hub.verify_token`
 * is the configured one or a connected number's. Notifications (POST) are checked against
 * `X-Hub-Signature-256` — Meta's app secret for production numbers, the sandbox's secret for
 * sandbox numbers — and stored before the 200, so an acknowledged webhook is never lost; Meta
 * retries anything else, and replays are recognised by wamid. Webhooks arriving together are
 * stored together (group commit: one transaction and one event fan-out for a burst), each in
 * Meta's order.
 */
export function webhookReceiverRoutes(app: Server, ctx: AppContext): void {
  const store = groupCommit<VerifiedWebhook>(
    ctx.db,
    async (tx, webhooks) => {
      const events = await ingestValues(
        ctx,
        tx,
        webhooks.flatMap((w) => w.routed),
      );
      await publishIngestEvents(
        ctx,
        tx,
        events,
        webhooks.flatMap((w) => w.forwards),
      );
    },
    INGEST_BATCHING,
  );
  app.register(async (scope) => {
    // The signature covers the exact bytes Meta sent, so the body is kept raw here.
    scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) =>
      done(null, body),
    );

    scope.get("/webhooks/whatsapp", { schema: { hide: true } }, async (request, reply) => {
      const q = request.query as Record<string, string | undefined>;
      const token = q["hub.verify_token"];
      if (q["hub.mode"] !== "subscribe" || !token || !(await verifyTokenKnown(ctx, token))) {
        return reply.code(403).send({ error: "Verification token mismatch" });
      }
      return reply.type("text/plain").send(q["hub.challenge"] ?? "");
    });

    scope.post("/webhooks/whatsapp", { schema: { hide: true } }, async (request, reply) => {
      const raw = request.body as Buffer;
      let body: WebhookBody;
      try {
        body = JSON.parse(raw.toString("utf8")) as WebhookBody;
      } catch {
        return reply.code(400).send({ error: "Body is not JSON" });
      }
      const entries = Array.isArray(body.entry) ? body.entry : [];
      const changes = entries.flatMap((e) => (Array.isArray(e?.changes) ? e.changes : []));
      const routed: { number: PhoneNumberRow; value: WebhookValue }[] = [];
      for (const change of changes) {
        const id = change?.value?.metadata?.phone_number_id;
        const number = typeof id === "string" && id ? await lookUpLivePhoneNumber(ctx.db, id) : undefined;
        if (number) routed.push({ number, value: change.value! });
        else request.log.info({ phone_number_id: id }, "webhook for an unknown phone number ignored");
      }
      const signature = request.headers["x-hub-signature-256"] as string | undefined;
      if (
        !(await signatureValid(
          ctx,
          raw,
          signature,
          routed.map((r) => r.number),
        ))
      ) {
        return reply.code(401).send({ error: "Invalid X-Hub-Signature-256" });
      }
      await store({ routed, forwards: metaForwards(raw, body, entries, changes.length, routed) });
      return reply.code(200).send({ success: true });
    });
  });
}

/**
 * What each number's `meta` webhook receives: Meta's body byte for byte when every change in it
 * is about that number (Meta's usual one-change webhook); when one body mixes numbers, each
 * gets a copy holding only its own changes (re-serialized), so no number sees another's data.
 */
function metaForwards(
  raw: Buffer,
  body: WebhookBody,
  entries: NonNullable<WebhookBody["entry"]>,
  changeCount: number,
  routed: { number: PhoneNumberRow; value: WebhookValue }[],
): MetaPayload[] {
  const numbers = new Map(routed.map((r) => [r.number.phone_number_id, r.number]));
  return [...numbers.values()].map((number) => {
    const own = entries
      .map((e) => ({
        ...e,
        changes: (Array.isArray(e?.changes) ? e.changes : []).filter(
          (c) => c?.value?.metadata?.phone_number_id === number.phone_number_id,
        ),
      }))
      .filter((e) => e.changes.length > 0);
    const count = own.reduce((n, e) => n + e.changes.length, 0);
    return {
      projectId: number.project_id,
      phoneNumberRef: number.id,
      body: count === changeCount ? raw.toString("utf8") : JSON.stringify({ ...body, entry: own }),
      field: own[0]?.changes[0]?.field ?? "messages",
    };
  });
}

async function verifyTokenKnown(ctx: AppContext, token: string): Promise<boolean> {
  if (ctx.config.meta.webhookVerifyToken && token === ctx.config.meta.webhookVerifyToken) return true;
  const rows = await ctx.db.query<{ webhook_verify_token_encrypted: string }>(sql`
    SELECT webhook_verify_token_encrypted FROM phone_numbers
    WHERE deleted_at IS NULL AND webhook_verify_token_encrypted IS NOT NULL`);
  return rows.some((r) => ctx.cipher.decrypt(r.webhook_verify_token_encrypted) === token);
}

/**
 * A webhook about sandbox numbers only may be signed with the sandbox secret; anything that
 * touches a production number must carry Meta's app signature.
 */
async function signatureValid(
  ctx: AppContext,
  raw: Buffer,
  header: string | undefined,
  numbers: PhoneNumberRow[],
): Promise<boolean> {
  const appSecret = ctx.config.meta.appSecret;
  if (appSecret && verifyMetaSignature(appSecret, raw, header)) return true;
  if (numbers.every((n) => n.kind === "sandbox")) {
    return verifyMetaSignature(await sandboxAppSecret(ctx.db), raw, header);
  }
  return false;
}
