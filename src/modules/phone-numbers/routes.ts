import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { HttpError } from "../../http/errors.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, ErrorResponse, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { admitHealthCheck, checkPhoneNumberHealth } from "./health.ts";
import {
  CreatePhoneNumberBody,
  CustomerParams,
  ListPhoneNumbersQuery,
  PhoneNumberHealth,
  PhoneNumberParams,
  UpdatePhoneNumberBody,
  WhatsappPhoneNumber,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Phone Numbers"];

export function phoneNumberRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/whatsapp/phone_numbers",
    {
      schema: {
        tags,
        operationId: "listWhatsappPhoneNumbers",
        summary: "List phone numbers",
        description: "Lists the project's WhatsApp numbers, newest first.",
        querystring: ListPhoneNumbersQuery,
        response: { 200: OffsetList(WhatsappPhoneNumber), ...errorResponses(422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      const result = await service.listPhoneNumbers(ctx, request.auth.projectId, request.query, page);
      return sendOffsetPage(request, reply, result);
    },
  );

  app.post(
    "/customers/:customer_id/whatsapp/phone_numbers",
    {
      schema: {
        tags,
        operationId: "createCustomerWhatsappPhoneNumber",
        summary: "Connect phone number",
        description:
          "Attaches a WhatsApp number to a customer. A production number is checked with Meta using the given access token; a sandbox number needs no credentials.",
        params: CustomerParams,
        body: CreatePhoneNumberBody,
        response: { 201: Envelope(WhatsappPhoneNumber), ...errorResponses(404, 409, 422, 502) },
      },
    },
    async (request, reply) => {
      const number = await service.connectPhoneNumber(
        ctx,
        request.auth.projectId,
        request.params.customer_id,
        request.body.whatsapp_phone_number,
      );
      return reply.code(201).send(envelope(number));
    },
  );

  app.get(
    "/whatsapp/phone_numbers/:phone_number_id",
    {
      schema: {
        tags,
        operationId: "getWhatsappPhoneNumber",
        summary: "Get phone number",
        params: PhoneNumberParams,
        response: { 200: Envelope(WhatsappPhoneNumber), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getPhoneNumber(ctx, request.auth.projectId, request.params.phone_number_id)),
  );

  app.patch(
    "/whatsapp/phone_numbers/:phone_number_id",
    {
      schema: {
        tags,
        operationId: "updateWhatsappPhoneNumber",
        summary: "Update phone number",
        description: "Partial update: rotate credentials, toggle features, switch kind.",
        params: PhoneNumberParams,
        body: UpdatePhoneNumberBody,
        response: { 200: Envelope(WhatsappPhoneNumber), ...errorResponses(404, 409, 422, 502) },
      },
    },
    async (request) =>
      envelope(
        await service.updatePhoneNumber(
          ctx,
          request.auth.projectId,
          request.params.phone_number_id,
          request.body.whatsapp_phone_number,
        ),
      ),
  );

  app.delete(
    "/whatsapp/phone_numbers/:phone_number_id",
    {
      schema: {
        tags,
        operationId: "deleteWhatsappPhoneNumber",
        summary: "Delete phone number",
        params: PhoneNumberParams,
        response: { 204: Type.Null({ description: "Phone number deleted" }), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await service.deletePhoneNumber(ctx, request.auth.projectId, request.params.phone_number_id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/whatsapp/phone_numbers/:phone_number_id/health",
    {
      schema: {
        tags,
        operationId: "getWhatsappPhoneNumberHealth",
        summary: "Check phone health",
        description:
          "Runs a live health check through the Graph API (cached 3 minutes per number). Limited to 5 requests per second and 60 per minute per project. The body has no data envelope.",
        params: PhoneNumberParams,
        response: { 200: PhoneNumberHealth, ...errorResponses(404), 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const headers = await admitHealthCheck(ctx, request.auth.projectId);
      reply.headers(headers);
      try {
        return await checkPhoneNumberHealth(ctx, request.auth.projectId, request.params.phone_number_id);
      } catch (err) {
        // The rate-limit headers go on every response, errors included.
        if (err instanceof HttpError)
          throw new HttpError(err.statusCode, err.message, { extra: err.extra, headers });
        throw err;
      }
    },
  );
}
