import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import multipart from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import sql from "sql-template-tag";
import type { AppContext } from "../context.ts";
import { requireApiKey } from "../http/auth.ts";
import { HttpError } from "../http/errors.ts";
import { cursorPage } from "../http/pagination.ts";
import type { Server } from "../http/types.ts";
import { isUuid } from "../lib/ids.ts";
import { sendMessage } from "../messaging/send.ts";
import { type ApiLogWriter, logApiRequests } from "../modules/api-logs/writer.ts";
import { presentContact } from "../modules/contacts/presenter.ts";
import * as contacts from "../modules/contacts/store.ts";
import * as conversations from "../modules/conversations/service.ts";
import {
  deleteMedia,
  getMediaMetadata,
  type UploadFile,
  uploadToMeta,
  withTempDir,
} from "../modules/media/service.ts";
import { isMediaId } from "../modules/media/urls.ts";
import {
  findProjectPhoneNumber,
  lookUpLivePhoneNumber,
  type PhoneNumberRow,
} from "../modules/phone-numbers/store.ts";
import { GraphApiError } from "../whatsapp/graph-client.ts";
import { MAX_MEDIA_BYTES } from "../whatsapp/media-types.ts";
import { MetaApiError, metaError, unknownObjectError } from "../whatsapp/meta-errors.ts";
import { graphTargetFor } from "../whatsapp/targets.ts";
import { getHistoryMessage, listHistory } from "./history.ts";
import { updateContact, updateConversation } from "./records.ts";

type Query = Record<string, string | undefined>;

function checkVersion(version: string): void {
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new MetaApiError(metaError("unsupported", `Unknown path components: /${version}`));
  }
}

/** The project's live number `id`, refused as Meta refuses an id it does not know. */
async function projectNumber(ctx: AppContext, projectId: string, id: string): Promise<PhoneNumberRow> {
  const number = /^\d+$/.test(id) ? await lookUpLivePhoneNumber(ctx.db, id) : undefined;
  if (number?.project_id !== projectId) throw new MetaApiError(unknownObjectError(id));
  return number;
}

/** The project's number named by a route's `:phone_number_id`, after checking its `:version`. */
async function routeNumber(ctx: AppContext, request: FastifyRequest): Promise<PhoneNumberRow> {
  const { version, phone_number_id: id } = request.params as { version: string; phone_number_id: string };
  checkVersion(version);
  return projectNumber(ctx, request.auth.projectId, id);
}

/** A project number on WABA `wabaId`, through which that WABA's templates are reached. */
async function wabaNumber(ctx: AppContext, projectId: string, wabaId: string): Promise<PhoneNumberRow> {
  const [number] = await ctx.db.query<PhoneNumberRow>(sql`
    SELECT * FROM phone_numbers
    WHERE project_id = ${projectId} AND business_account_id = ${wabaId} AND deleted_at IS NULL
    ORDER BY created_at LIMIT 1`);
  if (!number) throw new MetaApiError(unknownObjectError(wabaId));
  return number;
}

function limitOf(q: Query): number {
  const limit = q.limit === undefined ? 20 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new MetaApiError(
      metaError("invalidParameter", "(#100) Param limit must be an integer between 1 and 100"),
    );
  }
  return limit;
}

/** Runs a Graph call, answering Meta's refusal as Meta's error (502 when Meta is unreachable). */
async function asMeta<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof GraphApiError)
      throw new MetaApiError({ status: err.status || 502, body: { error: err.error } });
    throw err;
  }
}

/** A media id of a media call, with the project number given in `phone_number_id`. */
async function mediaTarget(ctx: AppContext, projectId: string, mediaId: string, query: Query) {
  if (!query.phone_number_id) {
    if (/^\d+$/.test(mediaId) && (await findProjectPhoneNumber(ctx.db, projectId, mediaId))) {
      throw new MetaApiError(
        metaError("unsupported", "(#3) A phone number node cannot be deleted through this API"),
      );
    }
    throw new MetaApiError(
      metaError("invalidParameter", "(#100) The parameter phone_number_id is required."),
    );
  }
  const number = await projectNumber(ctx, projectId, query.phone_number_id);
  if (!isMediaId(mediaId)) throw new MetaApiError(unknownObjectError(mediaId));
  return number;
}

/** Passes a Graph call through to Meta (or the sandbox) with the number's own credentials. */
async function passThrough(
  ctx: AppContext,
  number: PhoneNumberRow,
  request: Parameters<AppContext["graph"]["request"]>[1],
) {
  return asMeta(ctx.graph.request(graphTargetFor(ctx, number), request));
}

/** At most this many pages of a WABA's templates are searched for one template. */
const TEMPLATE_SEARCH_PAGES = 20;

/**
 * `GET /{waba_id}/message_templates/{template_id}`: Meta's `GET /{template_id}` (with the
 * caller's `fields`), answered only when the template is one of that WABA's — Meta's template
 * node does not say its WABA, so the WABA's list, filtered by the template's name, must hold it.
 */
async function wabaTemplate(
  ctx: AppContext,
  number: PhoneNumberRow,
  wabaId: string,
  templateId: string,
  query: Query,
): Promise<Record<string, unknown>> {
  if (!/^\d+$/.test(templateId)) throw new MetaApiError(unknownObjectError(templateId));
  const read = (fields: Query) =>
    passThrough(ctx, number, { path: `/${templateId}`, query: fields }) as Promise<Record<string, unknown>>;
  const template = await read(query.fields ? { fields: query.fields } : {});
  // An id Meta cannot name as a template is no template of this WABA either.
  const name =
    typeof template.name === "string"
      ? template.name
      : await read({ fields: "name" }).then(
          (named) => named.name,
          (err) => {
            if (err instanceof MetaApiError && err.status < 500) return undefined;
            throw err;
          },
        );
  let after: string | undefined;
  for (let page = 0; typeof name === "string" && page < TEMPLATE_SEARCH_PAGES; page++) {
    const list = (await passThrough(ctx, number, {
      path: `/${wabaId}/message_templates`,
      query: { name, fields: "id", limit: "100", ...(after ? { after } : {}) },
    })) as { data?: { id?: unknown }[]; paging?: { next?: string; cursors?: { after?: string } } };
    if (list.data?.some((t) => String(t.id) === templateId)) return template;
    after = list.paging?.next ? list.paging.cursors?.after : undefined;
    if (!after) break;
  }
  throw new MetaApiError(unknownObjectError(templateId));
}

/**
 * The WhatsApp Cloud API surface Kapso proxies at `/meta/whatsapp/{version}/…`, authenticated
 * with `X-API-Key` and limited to the project's numbers, plus Kapso's history endpoints. Every
 * error is Meta's error object, so Meta clients raise their usual errors.
 */
export function metaProxyRoutes(app: Server, ctx: AppContext, apiLogs: ApiLogWriter): void {
  app.register(
    async (proxy) => {
      requireApiKey(
        proxy,
        ctx,
        () =>
          new MetaApiError(
            metaError("authentication", "Invalid OAuth access token - Cannot parse access token"),
          ),
      );
      logApiRequests(proxy, apiLogs);
      proxy.setErrorHandler((error, request, reply) => {
        if (error instanceof MetaApiError) {
          if (error.headers) reply.headers(error.headers);
          return reply.code(error.status).send(error.body);
        }
        if (error instanceof HttpError && error.statusCode < 500) {
          return reply
            .code(error.statusCode === 404 ? 400 : error.statusCode)
            .send(metaError("invalidParameter", error.message).body);
        }
        const status = (error as { statusCode?: number }).statusCode ?? 500;
        if (status < 500)
          return reply.code(status).send(metaError("invalidParameter", (error as Error).message).body);
        request.log.error({ err: error }, "proxy request failed");
        return reply.code(500).send(metaError("genericUser", "An unknown error occurred").body);
      });

      await proxy.register(multipart, {
        limits: { fileSize: MAX_MEDIA_BYTES, files: 1, fields: 10, fieldSize: 1024 },
      });

      // Media: Meta's multipart upload, passed through with the file kept on disk, not in memory.
      proxy.post("/:version/:phone_number_id/media", async (request) => {
        const number = await routeNumber(ctx, request);
        if (!request.isMultipart()) {
          throw new MetaApiError(metaError("invalidParameter", "(#100) The parameter file is required."));
        }
        return withTempDir(async (dir) => {
          const fields: Record<string, string> = {};
          let file: UploadFile | undefined;
          for await (const part of request.parts()) {
            if (part.type === "file") {
              const saved = path.join(dir, "upload");
              await pipeline(part.file, fs.createWriteStream(saved));
              if (part.file.truncated) {
                throw new MetaApiError(
                  metaError("mediaError", "(#131053) Media upload error", "the file is larger than 100 MB"),
                );
              }
              file = { path: saved, filename: part.filename || undefined, contentType: part.mimetype };
            } else if (typeof part.value === "string") {
              fields[part.fieldname] = part.value;
            }
          }
          if (!file)
            throw new MetaApiError(metaError("invalidParameter", "(#100) The parameter file is required."));
          // `upload_strategy` is the Kapso client's own field, not Meta's.
          const { upload_strategy: strategy, ...metaFields } = fields;
          if (strategy && strategy !== "default") {
            throw new MetaApiError(
              metaError(
                "invalidParameter",
                "(#100) upload_strategy resumable is not supported on this endpoint; use POST /platform/v1/whatsapp/media with delivery meta_resumable_asset",
              ),
            );
          }
          return asMeta(uploadToMeta(ctx, number, metaFields, file));
        });
      });

      // `GET /{id}` reads a media object (with `phone_number_id`) or, for one of the project's
      // numbers, the number itself (Meta's phone number node, `fields=` passed through).
      proxy.get("/:version/:media_id", async (request) => {
        const { version, media_id: id } = request.params as { version: string; media_id: string };
        checkVersion(version);
        const query = request.query as Query;
        const ownNumber =
          !query.phone_number_id && /^\d+$/.test(id)
            ? await findProjectPhoneNumber(ctx.db, request.auth.projectId, id)
            : undefined;
        if (ownNumber) {
          return passThrough(ctx, ownNumber, {
            path: `/${ownNumber.phone_number_id}`,
            query: query.fields ? { fields: query.fields } : {},
          });
        }
        const number = await mediaTarget(ctx, request.auth.projectId, id, query);
        return asMeta(getMediaMetadata(ctx, number, id));
      });

      proxy.delete("/:version/:media_id", async (request) => {
        const { version, media_id: mediaId } = request.params as { version: string; media_id: string };
        checkVersion(version);
        const number = await mediaTarget(ctx, request.auth.projectId, mediaId, request.query as Query);
        return asMeta(deleteMedia(ctx, number, mediaId));
      });

      proxy.post("/:version/:phone_number_id/messages", async (request, reply) => {
        const number = await routeNumber(ctx, request);
        const key = request.headers["idempotency-key"];
        const result = await sendMessage(ctx, {
          projectId: request.auth.projectId,
          phoneNumber: number,
          body: (request.body ?? {}) as Record<string, unknown>,
          idempotencyKey: typeof key === "string" && key ? key.slice(0, 255) : undefined,
        });
        if (result.headers) reply.headers(result.headers);
        return reply.code(result.status).send(result.body);
      });

      proxy.get("/:version/:phone_number_id/messages", async (request) => {
        const number = await routeNumber(ctx, request);
        const q = request.query as Query;
        return listHistory(ctx, number, { ...q, limit: limitOf(q) });
      });

      proxy.get("/:version/:phone_number_id/messages/:message_id", async (request) => {
        const number = await routeNumber(ctx, request);
        const { message_id: messageId } = request.params as { message_id: string };
        return getHistoryMessage(ctx, number, messageId, (request.query as Query).fields);
      });

      proxy.get("/:version/:phone_number_id/conversations", async (request) => {
        const number = await routeNumber(ctx, request);
        const q = request.query as Query;
        if (q.status && q.status !== "active" && q.status !== "ended") {
          throw new MetaApiError(
            metaError("invalidParameter", "(#100) Param status must be active or ended"),
          );
        }
        return conversations.listConversations(ctx, request.auth.projectId, {
          phone_number_id: number.phone_number_id,
          status: q.status as "active" | "ended" | undefined,
          phone_number: q.phone_number,
          last_active_after: q.last_active_since,
          last_active_before: q.last_active_until,
          limit: limitOf(q),
          after: q.after,
          before: q.before,
        });
      });

      proxy.get("/:version/conversations/:conversation_id", async (request) => {
        const { version, conversation_id: id } = request.params as {
          version: string;
          conversation_id: string;
        };
        checkVersion(version);
        if (!isUuid(id)) throw new MetaApiError(unknownObjectError(id));
        return { data: await conversations.getConversation(ctx, request.auth.projectId, id) };
      });

      proxy.patch("/:version/conversations/:conversation_id", async (request) => {
        const { version, conversation_id: id } = request.params as {
          version: string;
          conversation_id: string;
        };
        checkVersion(version);
        return updateConversation(ctx, request.auth.projectId, id, request.body);
      });

      proxy.get("/:version/:phone_number_id/contacts", async (request) => {
        await routeNumber(ctx, request);
        const q = request.query as Query;
        const params = { limit: limitOf(q), before: q.before, after: q.after };
        const { rows, direction } = await contacts.listContactsByCursor(
          ctx.db,
          request.auth.projectId,
          {
            waIdContains: q.wa_id,
            customerId: q.customer_id,
            hasCustomer: q.has_customer === undefined ? undefined : q.has_customer === "true",
          },
          params,
        );
        const page = cursorPage(rows, params, direction, (r) => ({
          column: "created_at",
          value: r.created_at,
          id: r.id,
        }));
        return { data: page.data.map(presentContact), paging: page.paging };
      });

      proxy.get("/:version/:phone_number_id/contacts/:wa_id", async (request) => {
        await routeNumber(ctx, request);
        const { wa_id: waId } = request.params as { wa_id: string };
        const contact = await contacts.findContact(ctx.db, request.auth.projectId, waId);
        if (!contact) throw new MetaApiError(unknownObjectError(waId));
        return { data: presentContact(contact) };
      });

      proxy.patch("/:version/:phone_number_id/contacts/:wa_id", async (request) => {
        await routeNumber(ctx, request);
        const { wa_id: waId } = request.params as { wa_id: string };
        return updateContact(ctx, request.auth.projectId, waId, request.body);
      });

      proxy.route({
        method: ["GET", "POST", "DELETE"],
        url: "/:version/:waba_id/message_templates",
        handler: async (request) => {
          const { version, waba_id: wabaId } = request.params as { version: string; waba_id: string };
          checkVersion(version);
          const number = await wabaNumber(ctx, request.auth.projectId, wabaId);
          return passThrough(ctx, number, {
            method: request.method as "GET" | "POST" | "DELETE",
            path: `/${wabaId}/message_templates`,
            query: request.query as Query,
            json: request.method === "POST" ? request.body : undefined,
          });
        },
      });

      proxy.get("/:version/:waba_id/message_templates/:template_id", async (request) => {
        const {
          version,
          waba_id: wabaId,
          template_id: templateId,
        } = request.params as { version: string; waba_id: string; template_id: string };
        checkVersion(version);
        const number = await wabaNumber(ctx, request.auth.projectId, wabaId);
        return wabaTemplate(ctx, number, wabaId, templateId, request.query as Query);
      });

      // The number's registration, settings and business profile: Meta's answers, passed through
      // with the number's credentials (the sandbox's for sandbox numbers).
      for (const action of ["register", "deregister", "request_code", "verify_code"]) {
        proxy.post(`/:version/:phone_number_id/${action}`, async (request) => {
          const number = await routeNumber(ctx, request);
          return passThrough(ctx, number, {
            method: "POST",
            path: `/${number.phone_number_id}/${action}`,
            json: request.body ?? {},
          });
        });
      }
      for (const [node, queryParameter] of [
        ["settings", "include_sip_credentials"],
        ["whatsapp_business_profile", "fields"],
      ] as const) {
        proxy.route({
          method: ["GET", "POST"],
          url: `/:version/:phone_number_id/${node}`,
          handler: async (request) => {
            const number = await routeNumber(ctx, request);
            const value = (request.query as Query)[queryParameter];
            return passThrough(ctx, number, {
              method: request.method as "GET" | "POST",
              path: `/${number.phone_number_id}/${node}`,
              query: request.method === "GET" && value !== undefined ? { [queryParameter]: value } : {},
              json: request.method === "POST" ? (request.body ?? {}) : undefined,
            });
          },
        });
      }

      proxy.route({
        method: ["GET", "POST"],
        url: "/:version/:phone_number_id/calls",
        handler: async (request) => {
          await routeNumber(ctx, request);
          throw new MetaApiError(
            metaError("unsupported", "(#3) Calling is not supported by this Parley server"),
          );
        },
      });
    },
    { prefix: "/meta/whatsapp" },
  );
}
