import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  CreateDisplayNameRequestBody,
  DisplayNameRequest,
  DisplayNameRequestParams,
  ListDisplayNameRequestsQuery,
  PhoneNumberParams,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Display Names"];
const base = "/whatsapp/phone_numbers/:phone_number_id/display_name_requests";

export function displayNameRoutes(app: Server, ctx: AppContext): void {
  app.get(
    base,
    {
      schema: {
        tags,
        operationId: "listWhatsappDisplayNameRequests",
        summary: "List display name requests",
        description: "The number's display-name change requests, newest first.",
        params: PhoneNumberParams,
        querystring: ListDisplayNameRequestsQuery,
        response: { 200: OffsetList(DisplayNameRequest), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      return sendOffsetPage(
        request,
        reply,
        await service.listDisplayNameRequests(
          ctx,
          request.auth.projectId,
          request.params.phone_number_id,
          page,
        ),
      );
    },
  );

  app.post(
    base,
    {
      schema: {
        tags,
        operationId: "createWhatsappDisplayNameRequest",
        summary: "Submit display name request",
        description:
          "Asks Meta to change the number's display name (sandbox numbers: the built-in sandbox reviews it). One open request per number (422). Meta's review is followed by a scheduled job; an approved name becomes the number's `display_name`.",
        params: PhoneNumberParams,
        body: CreateDisplayNameRequestBody,
        response: { 201: Envelope(DisplayNameRequest), ...errorResponses(404, 422, 502) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          envelope(
            await service.createDisplayNameRequest(
              ctx,
              request.auth.projectId,
              request.params.phone_number_id,
              request.body.display_name_request,
            ),
          ),
        ),
  );

  app.get(
    `${base}/:request_id`,
    {
      schema: {
        tags,
        operationId: "getWhatsappDisplayNameRequest",
        summary: "Retrieve display name request",
        params: DisplayNameRequestParams,
        response: { 200: Envelope(DisplayNameRequest), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(
        await service.getDisplayNameRequest(
          ctx,
          request.auth.projectId,
          request.params.phone_number_id,
          request.params.request_id,
        ),
      ),
  );
}
