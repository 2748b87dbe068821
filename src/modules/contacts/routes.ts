import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, PaginationMeta, Paging } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  ContactParams,
  CreateContactBody,
  ListContactsQuery,
  MarketingPreference,
  PreferenceParams,
  UpdateContactBody,
  WhatsappContact,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Contacts"];

export function contactRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/whatsapp/contacts",
    {
      schema: {
        tags,
        operationId: "listWhatsappContactsPlatform",
        summary: "List contacts",
        description:
          "Newest first. Cursor paging (`limit`, `before`, `after`) by default; legacy offset paging (`meta` and X-Total headers) when `page` or `per_page` is given.",
        querystring: ListContactsQuery,
        response: {
          200: Type.Object({
            data: Type.Array(WhatsappContact),
            meta: Type.Optional(PaginationMeta),
            paging: Type.Optional(Paging),
          }),
          ...errorResponses(400, 422),
        },
      },
    },
    async (request, reply) => {
      const result = await service.listContacts(ctx, request.auth.projectId, request.query);
      return result.kind === "offset" ? sendOffsetPage(request, reply, result.page) : result.page;
    },
  );

  app.post(
    "/whatsapp/contacts",
    {
      schema: {
        tags,
        operationId: "createWhatsappContactPlatform",
        summary: "Create contact",
        description:
          "`wa_id` is stored as digits without `+`; a second contact with the same `wa_id` is a 409.",
        body: CreateContactBody,
        response: { 201: Envelope(WhatsappContact), ...errorResponses(409, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(envelope(await service.createContact(ctx, request.auth.projectId, request.body.contact))),
  );

  app.get(
    "/whatsapp/contacts/:identifier",
    {
      schema: {
        tags,
        operationId: "getWhatsappContactPlatform",
        summary: "Get contact",
        description: "`identifier`: contact UUID, WhatsApp number, BSUID or parent BSUID (newest match).",
        params: ContactParams,
        response: { 200: Envelope(WhatsappContact), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getContact(ctx, request.auth.projectId, request.params.identifier)),
  );

  app.patch(
    "/whatsapp/contacts/:identifier",
    {
      schema: {
        tags,
        operationId: "updateWhatsappContactPlatform",
        summary: "Update contact",
        description: "Updates the given fields; `metadata` replaces the stored object.",
        params: ContactParams,
        body: UpdateContactBody,
        response: { 200: Envelope(WhatsappContact), ...errorResponses(404, 409, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateContact(
          ctx,
          request.auth.projectId,
          request.params.identifier,
          request.body.contact ?? {},
        ),
      ),
  );

  app.delete(
    "/whatsapp/contacts/:identifier",
    {
      schema: {
        tags,
        operationId: "eraseWhatsappContact",
        summary: "Erase contact",
        description: "Erases the contact with its conversations and messages.",
        params: ContactParams,
        response: { 204: Type.Null({ description: "Contact erased" }), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      await service.eraseContact(ctx, request.auth.projectId, request.params.identifier);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/whatsapp/contacts/:identifier/marketing_preferences",
    {
      schema: {
        tags,
        operationId: "listWhatsappContactMarketingPreferences",
        summary: "List contact marketing preferences",
        params: ContactParams,
        response: { 200: Type.Object({ data: Type.Array(MarketingPreference) }), ...errorResponses(404) },
      },
    },
    async (request) => ({
      data: await service.listMarketingPreferences(ctx, request.auth.projectId, request.params.identifier),
    }),
  );

  app.get(
    "/whatsapp/contacts/:identifier/marketing_preferences/:phone_number_id",
    {
      schema: {
        tags,
        operationId: "getWhatsappContactMarketingPreference",
        summary: "Get contact marketing preference",
        params: PreferenceParams,
        response: { 200: Envelope(MarketingPreference), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(
        await service.getMarketingPreference(
          ctx,
          request.auth.projectId,
          request.params.identifier,
          request.params.phone_number_id,
        ),
      ),
  );
}
