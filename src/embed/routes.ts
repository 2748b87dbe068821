import multipart from "@fastify/multipart";
import websocket from "@fastify/websocket";
import type { FastifyRequest } from "fastify";
import sql from "sql-template-tag";
import { Type } from "typebox";
import type { AppContext } from "../context.ts";
import { announceToInboxes } from "../events/publish.ts";
import { invalid } from "../http/errors.ts";
import { cursorPage, cursorQuery } from "../http/pagination.ts";
import type { Server } from "../http/types.ts";
import { isUuid } from "../lib/ids.ts";
import { updateContact } from "../modules/contacts/service.ts";
import { updateConversationStatus } from "../modules/conversations/service.ts";
import { listConversations } from "../modules/conversations/store.ts";
import type { InboxEmbedRow } from "../modules/inbox-embeds/store.ts";
import { messageMediaUrl } from "../modules/media/urls.ts";
import { presentMessage } from "../modules/messages/presenter.ts";
import type { MessageRow } from "../modules/messages/store.ts";
import { MAX_MEDIA_BYTES } from "../whatsapp/media-types.ts";
import { authenticateEmbedRequest, frameAncestors, lookupEmbed, requestToken } from "./access.ts";
import {
  listTemplates,
  sendMedia,
  sendTemplate,
  sendTemplateWithMedia,
  sendText,
  TEMPLATE_LIMITS,
  type TemplateChoice,
} from "./compose.ts";
import { InboxHub } from "./live.ts";
import { clientScript, embedPage, unauthorizedPage } from "./page.ts";
import { presentEmbedConversation } from "./present.ts";
import { scopedConversation, scopeFilters } from "./scope.ts";

const Timestamp = Type.String({ format: "date-time" });

/**
 * The `phone_number_id` URL parameter (or its older name `whatsapp_config_id`): Meta's id of a
 * number, or Parley's id of it; `all` or an unknown value filters nothing.
 */
async function numberFilter(ctx: AppContext, embed: InboxEmbedRow, value: string | undefined) {
  if (!value || value === "all" || value.length > 64) return null;
  const [row] = await ctx.db.query<{ phone_number_id: string }>(sql`
    SELECT phone_number_id FROM phone_numbers
    WHERE project_id = ${embed.project_id} AND deleted_at IS NULL
      AND ${isUuid(value) ? sql`id = ${value}::uuid` : sql`phone_number_id = ${value}`}`);
  return row?.phone_number_id ?? null;
}

/**
 * The embedded inbox: the page at `embed_url` and the JSON API and WebSocket it calls, all
 * authenticated by the embed token and confined to the embed's scope.
 */
export function embedRoutes(app: Server, ctx: AppContext): void {
  // Registered on the root so its upgrade handling and hooks see every route; only the inbox
  // declares a WebSocket route. The page never sends anything, so frames stay small.
  app.register(websocket, { options: { maxPayload: 4096 } });
  const hub = new InboxHub(ctx);
  app.addHook("onReady", () => hub.start());
  app.addHook("preClose", () => hub.stop());
  // The WebSocket handshake's embed, from its checks (preValidation) to the socket handler.
  const handshakes = new WeakMap<FastifyRequest, { embed: InboxEmbedRow; token: string }>();

  app.get("/embed/:token", { schema: { hide: true } }, async (request, reply) => {
    const { token } = request.params as { token: string };
    const embed = await lookupEmbed(ctx, token);
    reply.header("Cache-Control", "no-store").header("Referrer-Policy", "no-referrer");
    if (!embed) return reply.code(401).type("text/html; charset=utf-8").send(unauthorizedPage());
    reply.header("Content-Security-Policy", `frame-ancestors ${frameAncestors(embed)}`);
    const q = request.query as Record<string, string | undefined>;
    const mode = q.mode === "light" || q.mode === "dark" || q.mode === "system" ? q.mode : embed.default_mode;
    const flag = (value: string | undefined) => value === "1" || value === "true";
    return reply.type("text/html; charset=utf-8").send(
      embedPage({
        token,
        language: embed.language,
        mode,
        filters: {
          status: q.status === "ended" || q.status === "all" ? q.status : "active",
          search: q.search ?? "",
          unread: flag(q.unread),
          handoff: flag(q.handoff),
          phone_number_id: await numberFilter(ctx, embed, q.phone_number_id ?? q.whatsapp_config_id),
        },
        conversationId: isUuid(q.conversation_id) ? q.conversation_id : null,
        restrictHost: embed.allowed_origins.length > 0,
      }),
    );
  });

  app.get(clientScript.path, { schema: { hide: true } }, async (request, reply) => {
    const gzip = /\bgzip\b/.test(request.headers["accept-encoding"] ?? "");
    reply
      .type("text/javascript; charset=utf-8")
      .header("Cache-Control", "public, max-age=31536000, immutable")
      .header("Vary", "Accept-Encoding");
    if (gzip) reply.header("Content-Encoding", "gzip");
    return reply.send(gzip ? clientScript.gzipped : clientScript.body);
  });

  app.register(
    async (api) => {
      await api.register(multipart, {
        limits: { fileSize: MAX_MEDIA_BYTES, files: 1, fields: 5, fieldSize: 4096 },
      });
      api.options("/*", async (request, reply) => {
        const origin = request.headers.origin;
        if (origin) reply.header("Access-Control-Allow-Origin", origin).header("Vary", "Origin");
        return reply
          .header("Access-Control-Allow-Headers", "authorization, content-type")
          .header("Access-Control-Allow-Methods", "GET, POST, PATCH")
          .code(204)
          .send();
      });

      api.get("/session", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        return {
          data: {
            scope_type: embed.scope_type,
            scope_name: embed.scope_name,
            assigned_user_name: embed.assigned_user_name,
            language: embed.language,
            default_mode: embed.default_mode,
          },
        };
      });

      api.get(
        "/conversations",
        {
          schema: {
            querystring: Type.Object({
              status: Type.Optional(Type.Enum(["active", "ended", "all"])),
              search: Type.Optional(Type.String({ maxLength: 100 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
              unread: Type.Optional(Type.Boolean()),
              handoff: Type.Optional(Type.Boolean()),
              phone_number_id: Type.Optional(Type.String({ maxLength: 64 })),
              after: Type.Optional(Type.String()),
              updated_after: Type.Optional(Timestamp),
            }),
          },
        },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const q = request.query as {
            status?: "active" | "ended" | "all";
            search?: string;
            unread?: boolean;
            handoff?: boolean;
            phone_number_id?: string;
            limit?: number;
            after?: string;
            updated_after?: string;
          };
          const params = { limit: q.limit ?? 30, after: q.after };
          const scope = scopeFilters(embed);
          // A number filter narrows the scope; another number than a number scope's is nothing.
          const number = q.phone_number_id;
          if (number && scope.phoneNumberId && number !== scope.phoneNumberId) {
            return { data: [], paging: { cursors: {}, next: null, previous: null } };
          }
          const { rows, direction } = await listConversations(
            ctx.db,
            embed.project_id,
            {
              ...scope,
              ...(number ? { phoneNumberId: number } : {}),
              status: q.status === "all" ? undefined : (q.status ?? "active"),
              search: q.search,
              unread: q.unread,
              awaitingReply: q.handoff,
              updatedAfter: q.updated_after,
            },
            params,
          );
          const page = cursorPage(rows, params, direction, (r) => ({
            column: "last_active_at",
            value: r.last_active_at,
            id: r.id,
          }));
          return {
            data: page.data.map(presentEmbedConversation),
            paging: page.paging,
          };
        },
      );

      api.get("/conversations/:id", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        return { data: presentEmbedConversation(conversation) };
      });

      // Ends or reopens the conversation, through the Platform API's service (same events).
      api.patch(
        "/conversations/:id",
        { schema: { body: Type.Object({ status: Type.Enum(["active", "ended"]) }) } },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          const { status } = request.body as { status: "active" | "ended" };
          await updateConversationStatus(ctx, embed.project_id, conversation.id, status);
          return { data: presentEmbedConversation(await scopedConversation(ctx, embed, conversation.id)) };
        },
      );

      // Renames the conversation's contact (its display name; empty goes back to the WhatsApp
      // profile name). Only a contact of a conversation in scope can be renamed.
      api.patch(
        "/conversations/:id/contact",
        {
          schema: {
            body: Type.Object({ display_name: Type.Union([Type.String({ maxLength: 255 }), Type.Null()]) }),
          },
        },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          const name = (request.body as { display_name: string | null }).display_name?.trim() || null;
          await updateContact(ctx, embed.project_id, conversation.contact_id, { display_name: name });
          return { data: presentEmbedConversation(await scopedConversation(ctx, embed, conversation.id)) };
        },
      );

      api.get(
        "/conversations/:id/messages",
        { schema: { querystring: Type.Object({ after: Type.Optional(Type.String()) }) } },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          const q = request.query as { after?: string };
          const params = { limit: 50, after: q.after };
          const cursor = cursorQuery(params, { sql: sql`sent_at`, name: "sent_at", idSql: sql`id` });
          const rows = await ctx.db.query<MessageRow>(sql`
            SELECT * FROM messages WHERE conversation_id = ${conversation.id} AND ${cursor.where}
            ${cursor.orderBy} ${cursor.limit}`);
          const page = cursorPage(rows, params, cursor.direction, (r) => ({
            column: "sent_at",
            value: r.sent_at,
            id: r.id,
          }));
          const mediaUrl = messageMediaUrl(ctx);
          return { data: page.data.map((m) => presentMessage(m, mediaUrl)), paging: page.paging };
        },
      );

      api.post("/conversations/:id/read", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        await ctx.db.transaction(async (tx) => {
          await tx.query(sql`UPDATE conversations SET unread_count = 0 WHERE id = ${conversation.id}`);
          await announceToInboxes(tx, {
            type: "inbox.conversation.read",
            projectId: embed.project_id,
            conversationId: conversation.id,
          });
        });
        return { data: { success: true } };
      });

      api.post(
        "/conversations/:id/messages",
        { schema: { body: Type.Object({ text: Type.String({ minLength: 1, maxLength: 4096 }) }) } },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          const sent = await sendText(ctx, conversation, (request.body as { text: string }).text);
          return reply.code(201).send({ data: sent });
        },
      );

      // A media reply: multipart `file` (Meta's types and limits) and an optional `caption`.
      api.post("/conversations/:id/media", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        if (!request.isMultipart()) throw invalid("file", "is required (multipart/form-data)");
        const sent = await sendMedia(ctx, conversation, request.parts());
        return reply.code(201).send({ data: sent });
      });

      api.get("/conversations/:id/templates", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        return { data: await listTemplates(ctx, conversation) };
      });

      const Parameters = Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: TEMPLATE_LIMITS.parameter }), {
          maxItems: TEMPLATE_LIMITS.parameters,
        }),
      );
      api.post(
        "/conversations/:id/template",
        {
          schema: {
            // JSON, or multipart when the template's media header comes as a file.
            body: {
              content: {
                "application/json": {
                  schema: Type.Object({
                    name: Type.String({ minLength: 1, maxLength: TEMPLATE_LIMITS.name }),
                    language: Type.String({ minLength: 2, maxLength: TEMPLATE_LIMITS.language }),
                    header_parameters: Parameters,
                    body_parameters: Parameters,
                  }),
                },
                "multipart/form-data": { schema: {} },
              },
            },
          },
        },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          const sent = request.isMultipart()
            ? await sendTemplateWithMedia(ctx, conversation, request.parts())
            : await sendTemplate(ctx, conversation, request.body as TemplateChoice);
          return reply.code(201).send({ data: sent });
        },
      );

      // Live updates. Browsers cannot set headers on a WebSocket, so the token comes as
      // `?token=`; the token and Origin checks run before the upgrade and refuse with a plain
      // 401 or 403. Pushes: `{type: "ready"}`, `{type: "event", event, conversation, message}`
      // and `{type: "ping"}` every 25 s, each with the server's `at`.
      api.route({
        method: "GET",
        url: "/ws",
        schema: { hide: true },
        preValidation: async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          handshakes.set(request, { embed, token: requestToken(request)! });
        },
        handler: async (_request, reply) =>
          reply
            .code(426)
            .header("Upgrade", "websocket")
            .send({ error: "This endpoint needs a WebSocket upgrade" }),
        wsHandler: (socket, request) => {
          const handshake = handshakes.get(request)!;
          hub.add(socket, handshake.embed, handshake.token);
        },
      });
    },
    { prefix: "/embed/api" },
  );
}
