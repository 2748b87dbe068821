import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  CreateSetupLinkBody,
  CustomerParams,
  ListSetupLinksQuery,
  SetupLink,
  SetupLinkCreated,
  SetupLinkParams,
  UpdateSetupLinkBody,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Setup Links"];

export function setupLinkRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/customers/:customer_id/setup_links",
    {
      schema: {
        tags,
        operationId: "listCustomerSetupLinks",
        summary: "List setup links",
        params: CustomerParams,
        querystring: ListSetupLinksQuery,
        response: { 200: OffsetList(SetupLink), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      const result = await service.listSetupLinks(
        ctx,
        request.auth.projectId,
        request.params.customer_id,
        request.query,
        page,
      );
      return sendOffsetPage(request, reply, result);
    },
  );

  app.post(
    "/customers/:customer_id/setup_links",
    {
      schema: {
        tags,
        operationId: "createCustomerSetupLink",
        summary: "Create setup link",
        description:
          "Creates the customer's onboarding link and revokes its other active links. `token` is returned only here.",
        params: CustomerParams,
        body: CreateSetupLinkBody,
        response: { 201: Envelope(SetupLinkCreated), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          envelope(
            await service.createSetupLink(
              ctx,
              request.auth.projectId,
              request.params.customer_id,
              request.body.setup_link,
            ),
          ),
        ),
  );

  app.patch(
    "/customers/:customer_id/setup_links/:setup_link_id",
    {
      schema: {
        tags,
        operationId: "updateCustomerSetupLink",
        summary: "Update setup link",
        params: SetupLinkParams,
        body: UpdateSetupLinkBody,
        response: { 200: Envelope(SetupLink), ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateSetupLink(
          ctx,
          request.auth.projectId,
          request.params.customer_id,
          request.params.setup_link_id,
          request.body.setup_link,
        ),
      ),
  );
}
