import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { CursorList, Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { registerRecurringJob } from "../../jobs/recurring.ts";
import {
  CreateWebhookBody,
  DeliveryParams,
  ListDeliveriesQuery,
  ListWebhooksQuery,
  NumberParams,
  NumberWebhookParams,
  UpdateWebhookBody,
  WebhookDelivery,
  WebhookDeliveryDetail,
  WebhookParams,
  WhatsappWebhook,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Webhooks"];

/** The test endpoint's body is optional (`{}` or none), so it is read by hand. */
function testEventType(body: unknown): string | undefined {
  const value = body && typeof body === "object" ? (body as { event_type?: unknown }).event_type : undefined;
  return typeof value === "string" ? value : undefined;
}
/** Project-level (`/whatsapp/webhooks`) and phone-number-level webhooks, and the delivery log. */
export function webhookRoutes(app: Server, ctx: AppContext): void {
  for (const level of ["project", "phone_number"] as const) {
    const base =
      level === "project" ? "/whatsapp/webhooks" : "/whatsapp/phone_numbers/:phone_number_id/webhooks";
    const op = level === "project" ? "WhatsappProjectWebhook" : "WhatsappPhoneNumberWebhook";
    const scopeOf = (params: { phone_number_id?: string }) => ({
      phoneNumberId: level === "project" ? null : params.phone_number_id!,
    });
    const listParams = level === "project" ? undefined : NumberParams;
    const itemParams = level === "project" ? WebhookParams : NumberWebhookParams;

    app.get(
      base,
      {
        schema: {
          tags,
          operationId: `list${op}s`,
          summary: "List webhooks",
          params: listParams,
          querystring: ListWebhooksQuery,
          response: { 200: OffsetList(WhatsappWebhook), ...errorResponses(404, 422) },
        },
      },
      async (request, reply) => {
        const scope = {
          projectId: request.auth.projectId,
          ...scopeOf(request.params as { phone_number_id?: string }),
        };
        const page = offsetParams(request.query);
        return sendOffsetPage(request, reply, await service.listWebhooks(ctx, scope, request.query, page));
      },
    );

    app.post(
      base,
      {
        schema: {
          tags,
          operationId: `create${op}`,
          summary: "Create webhook",
          params: listParams,
          body: CreateWebhookBody,
          response: { 201: Envelope(WhatsappWebhook), ...errorResponses(404, 422) },
        },
      },
      async (request, reply) => {
        const scope = {
          projectId: request.auth.projectId,
          ...scopeOf(request.params as { phone_number_id?: string }),
        };
        return reply
          .code(201)
          .send(envelope(await service.createWebhook(ctx, scope, request.body.whatsapp_webhook)));
      },
    );

    app.get(
      `${base}/:webhook_id`,
      {
        schema: {
          tags,
          operationId: `get${op}`,
          summary: "Get webhook",
          params: itemParams,
          response: { 200: Envelope(WhatsappWebhook), ...errorResponses(404) },
        },
      },
      async (request) => {
        const params = request.params as { phone_number_id?: string; webhook_id: string };
        return envelope(
          await service.getWebhook(
            ctx,
            { projectId: request.auth.projectId, ...scopeOf(params) },
            params.webhook_id,
          ),
        );
      },
    );

    app.patch(
      `${base}/:webhook_id`,
      {
        schema: {
          tags,
          operationId: `update${op}`,
          summary: "Update webhook",
          params: itemParams,
          body: UpdateWebhookBody,
          response: { 200: Envelope(WhatsappWebhook), ...errorResponses(404, 422) },
        },
      },
      async (request) => {
        const params = request.params as { phone_number_id?: string; webhook_id: string };
        const scope = { projectId: request.auth.projectId, ...scopeOf(params) };
        return envelope(
          await service.updateWebhook(ctx, scope, params.webhook_id, request.body.whatsapp_webhook),
        );
      },
    );

    app.delete(
      `${base}/:webhook_id`,
      {
        schema: {
          tags,
          operationId: `delete${op}`,
          summary: "Delete webhook",
          params: itemParams,
          response: { 204: Type.Null({ description: "Webhook deleted" }), ...errorResponses(404) },
        },
      },
      async (request, reply) => {
        const params = request.params as { phone_number_id?: string; webhook_id: string };
        await service.deleteWebhook(
          ctx,
          { projectId: request.auth.projectId, ...scopeOf(params) },
          params.webhook_id,
        );
        return reply.code(204).send(null);
      },
    );
  }

  app.post(
    "/whatsapp/webhooks/:webhook_id/test",
    {
      schema: {
        tags,
        operationId: "testWhatsappProjectWebhook",
        summary: "Send a test event",
        description:
          "Queues a test delivery; `event_type` (body or query) must be one of the webhook's events.",
        params: WebhookParams,
        querystring: Type.Object({ event_type: Type.Optional(Type.String()) }),
        response: { 200: Envelope(Type.Object({ success: Type.Boolean() })), ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.testWebhook(
          ctx,
          { projectId: request.auth.projectId, phoneNumberId: null },
          request.params.webhook_id,
          testEventType(request.body) ?? request.query.event_type,
        ),
      ),
  );

  app.get(
    "/webhook_deliveries",
    {
      schema: {
        tags: ["Webhook Deliveries"],
        operationId: "listWebhookDeliveries",
        summary: "List webhook deliveries",
        querystring: ListDeliveriesQuery,
        response: { 200: CursorList(WebhookDelivery), ...errorResponses(422) },
      },
    },
    async (request) => service.listDeliveries(ctx, request.auth.projectId, request.query),
  );

  app.get(
    "/webhook_deliveries/:delivery_id",
    {
      schema: {
        tags: ["Webhook Deliveries"],
        operationId: "getWebhookDelivery",
        summary: "Get a webhook delivery with its attempts (Parley extension)",
        description:
          "Not in Kapso's API: the delivery record plus the body it sends and, per attempt, the request URL and headers, the receiver's status and the first 2,048 bytes of its answer (or the error), and the timing.",
        params: DeliveryParams,
        response: { 200: Envelope(WebhookDeliveryDetail), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getDelivery(ctx, request.auth.projectId, request.params.delivery_id)),
  );

  app.post(
    "/webhook_deliveries/:delivery_id/redeliver",
    {
      schema: {
        tags: ["Webhook Deliveries"],
        operationId: "redeliverWebhookDelivery",
        summary: "Queue a webhook delivery again (Parley extension)",
        description:
          "Not in Kapso's API: puts the delivery back in the queue, due at once, with the same body and X-Idempotency-Key; it then follows the usual retry rules.",
        params: DeliveryParams,
        response: { 202: Envelope(WebhookDelivery), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          envelope(await service.redeliverDelivery(ctx, request.auth.projectId, request.params.delivery_id)),
        ),
  );
}

/** Purges old finished webhook deliveries every hour (pg-boss cron: one firing across all processes). */
export function registerDeliveryRetentionJob(app: Server, ctx: AppContext): void {
  registerRecurringJob(app, ctx, service.PURGE_WEBHOOK_DELIVERIES_QUEUE, "41 * * * *", () =>
    service.purgeWebhookDeliveries(ctx),
  );
}
