import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { errorResponses } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  ConversationEnvelope,
  ConversationList,
  ConversationParams,
  ListConversationsQuery,
  UpdateConversationBody,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Conversations"];

export function conversationRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/whatsapp/conversations",
    {
      schema: {
        tags,
        operationId: "listWhatsappConversations",
        summary: "List conversations",
        description: "Conversations across the project, latest activity first, with cursor paging.",
        querystring: ListConversationsQuery,
        response: { 200: ConversationList, ...errorResponses(422) },
      },
    },
    async (request) => service.listConversations(ctx, request.auth.projectId, request.query),
  );

  app.get(
    "/whatsapp/conversations/:conversation_id",
    {
      schema: {
        tags,
        operationId: "getWhatsappConversation",
        summary: "Get conversation",
        params: ConversationParams,
        response: { 200: ConversationEnvelope, ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getConversation(ctx, request.auth.projectId, request.params.conversation_id)),
  );

  app.patch(
    "/whatsapp/conversations/:conversation_id",
    {
      schema: {
        tags,
        operationId: "updateWhatsappConversation",
        summary: "Update conversation status",
        params: ConversationParams,
        body: UpdateConversationBody,
        response: { 200: ConversationEnvelope, ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateConversationStatus(
          ctx,
          request.auth.projectId,
          request.params.conversation_id,
          request.body.whatsapp_conversation.status,
        ),
      ),
  );
}
