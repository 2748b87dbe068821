import sql from "sql-template-tag";
import { Type } from "typebox";
import type { AppContext } from "../context.ts";
import { EVENTS_CHANNEL, type EventNotice } from "../events/publish.ts";
import { HttpError, notFound } from "../http/errors.ts";
import { cursorPage, cursorQuery } from "../http/pagination.ts";
import type { Server } from "../http/types.ts";
import { sendMessage } from "../messaging/send.ts";
import { presentConversation } from "../modules/conversations/presenter.ts";
import {
  type ConversationFilters,
  findConversation,
  listConversations,
} from "../modules/conversations/store.ts";
import type { InboxEmbedRow } from "../modules/inbox-embeds/store.ts";
import { messageMediaUrl } from "../modules/media/urls.ts";
import { presentMessage } from "../modules/messages/presenter.ts";
import type { MessageRow } from "../modules/messages/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";
import { authenticateEmbedRequest, frameAncestors, lookupEmbed } from "./access.ts";
import { embedPage, unauthorizedPage } from "./page.ts";

/** The conversation filters an embed's scope imposes, whatever the iframe asks. */
function scopeFilters(embed: InboxEmbedRow): ConversationFilters {
  return {
    ...(embed.scope_type === "customer" ? { customerId: embed.scope_id! } : {}),
    ...(embed.scope_type === "phone_number" ? { phoneNumberId: embed.scope_id! } : {}),
    ...(embed.assigned_user_id ? { assignedUserId: embed.assigned_user_id } : {}),
  };
}

/** A conversation the embed may see, or 404 (outside the scope is the same as not existing). */
async function scopedConversation(ctx: AppContext, embed: InboxEmbedRow, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound("Conversation");
  const row = await findConversation(ctx.db, embed.project_id, id);
  const scope = scopeFilters(embed);
  if (!row) throw notFound("Conversation");
  if (scope.phoneNumberId && row.phone_number_id !== scope.phoneNumberId) throw notFound("Conversation");
  if (scope.customerId || scope.assignedUserId) {
    const [match] = await ctx.db.query(sql`
      SELECT 1 FROM conversations v JOIN phone_numbers pn ON pn.id = v.phone_number_ref
      WHERE v.id = ${id}
        AND (${scope.customerId ?? null}::uuid IS NULL OR pn.customer_id = ${scope.customerId ?? null}::uuid)
        AND (${scope.assignedUserId ?? null}::uuid IS NULL OR EXISTS (
          SELECT 1 FROM conversation_assignments a WHERE a.conversation_id = v.id AND a.active
            AND a.user_id = ${scope.assignedUserId ?? null}::uuid))`);
    if (!match) throw notFound("Conversation");
  }
  return row;
}

/**
 * The embedded inbox: the page at `embed_url` and the JSON API and event stream it calls,
 * all authenticated by the embed token and confined to the embed's scope.
 */
export function embedRoutes(app: Server, ctx: AppContext): void {
  app.get("/embed/:token", { schema: { hide: true } }, async (request, reply) => {
    const { token } = request.params as { token: string };
    const embed = await lookupEmbed(ctx, token);
    reply.header("Cache-Control", "no-store").header("Referrer-Policy", "no-referrer");
    if (!embed) return reply.code(401).type("text/html; charset=utf-8").send(unauthorizedPage());
    reply.header("Content-Security-Policy", `frame-ancestors ${frameAncestors(embed)}`);
    const q = request.query as { mode?: string; status?: string; search?: string };
    const mode = q.mode === "light" || q.mode === "dark" || q.mode === "system" ? q.mode : embed.default_mode;
    return reply.type("text/html; charset=utf-8").send(
      embedPage({
        token,
        language: embed.language,
        mode,
        status: q.status === "ended" || q.status === "all" ? q.status : "active",
        search: q.search ?? "",
      }),
    );
  });

  app.register(
    async (api) => {
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
              after: Type.Optional(Type.String()),
            }),
          },
        },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const q = request.query as {
            status?: "active" | "ended" | "all";
            search?: string;
            limit?: number;
            after?: string;
          };
          const params = { limit: q.limit ?? 30, after: q.after };
          const { rows, direction } = await listConversations(
            ctx.db,
            embed.project_id,
            {
              ...scopeFilters(embed),
              status: q.status === "all" ? undefined : (q.status ?? "active"),
              search: q.search,
            },
            params,
          );
          const page = cursorPage(rows, params, direction, (r) => ({
            column: "last_active_at",
            value: r.last_active_at,
            id: r.id,
          }));
          return {
            data: page.data.map((r) => ({ ...presentConversation(r), unread_count: r.unread_count })),
            paging: page.paging,
          };
        },
      );

      api.get("/conversations/:id/messages", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        const q = request.query as { after?: string };
        const params = { limit: 50, after: q.after };
        const cursor = cursorQuery(params, { sql: sql`sent_at`, name: "sent_at", idSql: sql`id` });
        const rows = await ctx.db.query<MessageRow>(sql`
          SELECT * FROM messages WHERE conversation_id = ${conversation.id} AND ${cursor.where} ${cursor.orderBy} ${cursor.limit}`);
        const page = cursorPage(rows, params, cursor.direction, (r) => ({
          column: "sent_at",
          value: r.sent_at,
          id: r.id,
        }));
        const mediaUrl = messageMediaUrl(ctx);
        return { data: page.data.map((m) => presentMessage(m, mediaUrl)), paging: page.paging };
      });

      api.post("/conversations/:id/read", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
        await ctx.db.query(sql`UPDATE conversations SET unread_count = 0 WHERE id = ${conversation.id}`);
        return { data: { success: true } };
      });

      api.post(
        "/conversations/:id/messages",
        { schema: { body: Type.Object({ text: Type.String({ minLength: 1, maxLength: 4096 }) }) } },
        async (request, reply) => {
          const embed = await authenticateEmbedRequest(ctx, request, reply);
          const text = (request.body as { text: string }).text;
          const conversation = await scopedConversation(ctx, embed, (request.params as { id: string }).id);
          if (conversation.status !== "active") throw new HttpError(422, "The conversation has ended");
          const [number] = await ctx.db.query<PhoneNumberRow>(
            sql`SELECT * FROM phone_numbers WHERE id = ${conversation.phone_number_ref}`,
          );
          const result = await sendMessage(ctx, {
            projectId: embed.project_id,
            phoneNumber: number!,
            origin: "inbox",
            body: {
              messaging_product: "whatsapp",
              to: conversation.wa_id,
              type: "text",
              text: { body: text },
            },
          });
          if (result.status !== 200) {
            const error = (result.body as { error?: { message?: string } }).error;
            throw new HttpError(422, error?.message ?? "The message could not be sent");
          }
          return reply.code(201).send({ data: { id: result.messageId, wamid: result.wamid } });
        },
      );

      // Live updates: Server-Sent Events fed by PostgreSQL LISTEN, so an event committed by any
      // Parley process reaches every open inbox. Only events inside the embed's scope are sent.
      api.get("/events", async (request, reply) => {
        const embed = await authenticateEmbedRequest(ctx, request, reply);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          connection: "keep-alive",
          ...(reply.getHeader("access-control-allow-origin")
            ? { "access-control-allow-origin": String(reply.getHeader("access-control-allow-origin")) }
            : {}),
        });
        res.write("retry: 2000\n\n");
        const unlisten = await ctx.db.listen(EVENTS_CHANNEL, (payload) => {
          const notice = JSON.parse(payload) as Partial<EventNotice>;
          if (notice.project_id !== embed.project_id || !notice.conversation_id) return;
          scopedConversation(ctx, embed, notice.conversation_id)
            .then(() =>
              res.write(
                `event: update\ndata: ${JSON.stringify({ type: notice.type, conversation_id: notice.conversation_id })}\n\n`,
              ),
            )
            .catch(() => undefined);
        });
        const keepAlive = setInterval(() => res.write(": ping\n\n"), 25_000);
        request.raw.on("close", () => {
          clearInterval(keepAlive);
          void unlisten();
        });
      });
    },
    { prefix: "/embed/api" },
  );
}
