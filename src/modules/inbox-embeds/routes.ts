import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  CreateInboxEmbedBody,
  InboxEmbed,
  InboxEmbedCreated,
  InboxEmbedParams,
  ListInboxEmbedsQuery,
  UpdateInboxEmbedBody,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Inbox Embeds"];

export function inboxEmbedRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/inbox_embeds",
    {
      schema: {
        tags,
        operationId: "listInboxEmbeds",
        summary: "List inbox embeds",
        description:
          "Lists the project's embed links, newest first; raw tokens and embed URLs are never included.",
        querystring: ListInboxEmbedsQuery,
        response: { 200: OffsetList(InboxEmbed), ...errorResponses(422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      const result = await service.listInboxEmbeds(ctx, request.auth.projectId, request.query, page);
      return sendOffsetPage(request, reply, result);
    },
  );

  app.post(
    "/inbox_embeds",
    {
      schema: {
        tags,
        operationId: "createInboxEmbed",
        summary: "Create inbox embed",
        description: "Creates an embeddable inbox link. `token` and `embed_url` are returned only here.",
        body: CreateInboxEmbedBody,
        response: { 201: Envelope(InboxEmbedCreated), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const embed = await service.createInboxEmbed(ctx, request.auth.projectId, request.body.inbox_embed);
      return reply.code(201).send(envelope(embed));
    },
  );

  app.get(
    "/inbox_embeds/:inbox_embed_id",
    {
      schema: {
        tags,
        operationId: "getInboxEmbed",
        summary: "Get inbox embed",
        description: "Returns an inbox embed without the raw token or embed URL.",
        params: InboxEmbedParams,
        response: { 200: Envelope(InboxEmbed), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getInboxEmbed(ctx, request.auth.projectId, request.params.inbox_embed_id)),
  );

  app.patch(
    "/inbox_embeds/:inbox_embed_id",
    {
      schema: {
        tags,
        operationId: "updateInboxEmbed",
        summary: "Update inbox embed",
        description:
          "Changes the mutable settings. The scope cannot change; a different scope needs a new embed.",
        params: InboxEmbedParams,
        body: UpdateInboxEmbedBody,
        response: { 200: Envelope(InboxEmbed), ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateInboxEmbed(
          ctx,
          request.auth.projectId,
          request.params.inbox_embed_id,
          request.body.inbox_embed,
        ),
      ),
  );

  app.delete(
    "/inbox_embeds/:inbox_embed_id",
    {
      schema: {
        tags,
        operationId: "deleteInboxEmbed",
        summary: "Revoke inbox embed",
        description: "Revokes the embed token immediately. The record stays with `status: revoked`.",
        params: InboxEmbedParams,
        response: { 204: Type.Null({ description: "Inbox embed revoked" }), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await service.revokeInboxEmbed(ctx, request.auth.projectId, request.params.inbox_embed_id);
      return reply.code(204).send(null);
    },
  );
}
