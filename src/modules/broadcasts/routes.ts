import type { AppContext } from "../../context.ts";
import { envelope } from "../../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import {
  AddRecipientsBody,
  AddRecipientsResponse,
  Broadcast,
  BroadcastParams,
  BroadcastRecipient,
  BroadcastSendResponse,
  CopyBroadcastBody,
  CreateBroadcastBody,
  ListBroadcastsQuery,
  ListRecipientsQuery,
  ScheduleBroadcastBody,
  UpdateBroadcastStatusBody,
} from "./schemas.ts";
import * as service from "./service.ts";

const tags = ["Broadcasts"];
const base = "/whatsapp/broadcasts";

export function broadcastRoutes(app: Server, ctx: AppContext): void {
  app.get(
    base,
    {
      schema: {
        tags,
        operationId: "listWhatsappBroadcasts",
        summary: "List broadcasts",
        description: "The project's broadcasts, newest first.",
        querystring: ListBroadcastsQuery,
        response: { 200: OffsetList(Broadcast), ...errorResponses(422) },
      },
    },
    async (request, reply) => {
      const { page: _page, per_page: _perPage, ...filters } = request.query;
      const page = offsetParams(request.query);
      return sendOffsetPage(
        request,
        reply,
        await service.listBroadcasts(ctx, request.auth.projectId, filters, page),
      );
    },
  );

  app.post(
    base,
    {
      schema: {
        tags,
        operationId: "createWhatsappBroadcast",
        summary: "Create broadcast",
        description:
          "Creates a draft broadcast of an approved template of the number's WABA (`whatsapp_template_id` is Meta's template id). Then add recipients and send or schedule it. Parley also accepts sandbox numbers (the broadcast shows `sandbox: true`).",
        body: CreateBroadcastBody,
        response: { 201: Envelope(Broadcast), ...errorResponses(404, 422, 502) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          envelope(
            await service.createBroadcast(ctx, request.auth.projectId, request.body.whatsapp_broadcast),
          ),
        ),
  );

  app.get(
    `${base}/:broadcast_id`,
    {
      schema: {
        tags,
        operationId: "getWhatsappBroadcast",
        summary: "Retrieve broadcast",
        description: "The broadcast with its running counts; poll it while it sends.",
        params: BroadcastParams,
        response: { 200: Envelope(Broadcast), ...errorResponses(404) },
      },
    },
    async (request) =>
      envelope(await service.getBroadcast(ctx, request.auth.projectId, request.params.broadcast_id)),
  );

  app.patch(
    `${base}/:broadcast_id`,
    {
      schema: {
        tags,
        operationId: "updateWhatsappBroadcastStatus",
        summary: "Stop or return to draft",
        description:
          "`stopped` stops a sending broadcast (pending recipients stay pending); `draft` cancels a scheduled one.",
        params: BroadcastParams,
        body: UpdateBroadcastStatusBody,
        response: { 200: Envelope(Broadcast), ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(
        await service.updateBroadcastStatus(
          ctx,
          request.auth.projectId,
          request.params.broadcast_id,
          request.body.whatsapp_broadcast.status,
        ),
      ),
  );

  app.post(
    `${base}/:broadcast_id/copy`,
    {
      schema: {
        tags,
        operationId: "copyWhatsappBroadcast",
        summary: "Copy broadcast (Parley extension)",
        description:
          "Not in Kapso's API. Creates a broadcast of the same number and template (checked again as create checks it) with every recipient of this one, each pending again. It starts `copying` (no add, clear, send or schedule) and becomes `draft` once its recipients are copied, in the background. `name` defaults to the original's name + \" (copy)\".",
        params: BroadcastParams,
        body: CopyBroadcastBody,
        response: { 201: Envelope(Broadcast), ...errorResponses(404, 422, 502) },
      },
      // A POST without a body copies under the default name.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          envelope(
            await service.copyBroadcast(
              ctx,
              request.auth.projectId,
              request.params.broadcast_id,
              request.body.whatsapp_broadcast?.name,
            ),
          ),
        ),
  );

  app.get(
    `${base}/:broadcast_id/recipients`,
    {
      schema: {
        tags,
        operationId: "listWhatsappBroadcastRecipients",
        summary: "List recipients",
        description: "The broadcast's recipients in the order they were added (and are sent).",
        params: BroadcastParams,
        querystring: ListRecipientsQuery,
        response: { 200: OffsetList(BroadcastRecipient), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      return sendOffsetPage(
        request,
        reply,
        await service.listRecipients(ctx, request.auth.projectId, request.params.broadcast_id, page),
      );
    },
  );

  app.post(
    `${base}/:broadcast_id/recipients`,
    {
      schema: {
        tags,
        operationId: "addWhatsappBroadcastRecipients",
        summary: "Add recipients",
        description:
          "Up to 1000 recipients per request to a draft or scheduled broadcast. Numbers already in the broadcast are skipped and counted in `duplicates`; a recipient that cannot be added is reported in `errors` and the others are still added.",
        params: BroadcastParams,
        body: AddRecipientsBody,
        response: { 201: AddRecipientsResponse, ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          envelope(
            await service.addRecipients(
              ctx,
              request.auth.projectId,
              request.params.broadcast_id,
              request.body.whatsapp_broadcast.recipients,
            ),
          ),
        ),
  );

  app.delete(
    `${base}/:broadcast_id/recipients`,
    {
      schema: {
        tags,
        operationId: "clearWhatsappBroadcastRecipients",
        summary: "Clear recipients",
        description:
          "Removes every recipient of a draft or scheduled broadcast; a scheduled one returns to draft.",
        params: BroadcastParams,
        response: { 200: Envelope(Broadcast), ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(await service.clearRecipients(ctx, request.auth.projectId, request.params.broadcast_id)),
  );

  app.post(
    `${base}/:broadcast_id/send`,
    {
      schema: {
        tags,
        operationId: "sendWhatsappBroadcast",
        summary: "Send broadcast",
        description: "Starts sending now, in the background; poll the broadcast for progress.",
        params: BroadcastParams,
        response: { 202: BroadcastSendResponse, ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          envelope(await service.sendBroadcast(ctx, request.auth.projectId, request.params.broadcast_id)),
        ),
  );

  app.post(
    `${base}/:broadcast_id/schedule`,
    {
      schema: {
        tags,
        operationId: "scheduleWhatsappBroadcast",
        summary: "Schedule broadcast",
        description: "Starts sending at `scheduled_at` (ISO 8601 with time zone, in the future).",
        params: BroadcastParams,
        body: ScheduleBroadcastBody,
        response: { 202: BroadcastSendResponse, ...errorResponses(404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          envelope(
            await service.scheduleBroadcast(
              ctx,
              request.auth.projectId,
              request.params.broadcast_id,
              request.body.scheduled_at,
            ),
          ),
        ),
  );

  app.post(
    `${base}/:broadcast_id/cancel`,
    {
      schema: {
        tags,
        operationId: "cancelWhatsappBroadcast",
        summary: "Cancel scheduled broadcast",
        description: "Returns a scheduled broadcast to draft.",
        params: BroadcastParams,
        response: { 200: BroadcastSendResponse, ...errorResponses(404, 422) },
      },
    },
    async (request) =>
      envelope(await service.cancelBroadcast(ctx, request.auth.projectId, request.params.broadcast_id)),
  );
}
