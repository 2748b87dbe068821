import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  CreateCustomerBody,
  Customer,
  CustomerParams,
  ListCustomersQuery,
  UpdateCustomerBody,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Customers"];

export function customerRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/customers",
    {
      schema: {
        tags,
        operationId: "listCustomers",
        summary: "List customers",
        description: "Lists the project's customers, newest first. `name_contains` ignores case.",
        querystring: ListCustomersQuery,
        response: { 200: OffsetList(Customer), ...errorResponses(422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      return sendOffsetPage(
        request,
        reply,
        await service.listCustomers(ctx, request.auth.projectId, request.query, page),
      );
    },
  );

  app.post(
    "/customers",
    {
      schema: {
        tags,
        operationId: "createCustomer",
        summary: "Create customer",
        description: "Creates a customer. `external_customer_id` is unique within the project (409).",
        body: CreateCustomerBody,
        response: { 201: Envelope(Customer), ...errorResponses(409, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(envelope(await service.createCustomer(ctx, request.auth.projectId, request.body.customer))),
  );

  app.get(
    "/customers/:customer_id",
    {
      schema: {
        tags,
        operationId: "getCustomer",
        summary: "Get customer",
        params: CustomerParams,
        response: { 200: Envelope(Customer), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getCustomer(ctx, request.auth.projectId, request.params.customer_id)),
  );

  app.patch(
    "/customers/:customer_id",
    {
      schema: {
        tags,
        operationId: "updateCustomer",
        summary: "Update customer",
        params: CustomerParams,
        body: UpdateCustomerBody,
        response: { 200: Envelope(Customer), ...errorResponses(404, 409, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateCustomer(
          ctx,
          request.auth.projectId,
          request.params.customer_id,
          request.body.customer,
        ),
      ),
  );

  app.delete(
    "/customers/:customer_id",
    {
      schema: {
        tags,
        operationId: "deleteCustomer",
        summary: "Delete customer",
        description:
          "Deletes the customer. Its phone numbers are disconnected (history kept), inbox embeds scoped to it or its numbers are revoked, and its contacts are detached.",
        params: CustomerParams,
        response: { 204: Type.Null({ description: "Customer deleted" }), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await service.deleteCustomer(ctx, request.auth.projectId, request.params.customer_id);
      return reply.code(204).send(null);
    },
  );
}
