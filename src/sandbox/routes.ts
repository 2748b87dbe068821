import multipart from "@fastify/multipart";
import type { FastifyError, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { AppContext } from "../context.ts";
import { requireApiKey } from "../http/auth.ts";
import { envelope } from "../http/envelope.ts";
import { offsetParams, sendOffsetPage } from "../http/pagination.ts";
import { Envelope, errorResponses, OffsetList } from "../http/schemas.ts";
import type { Server } from "../http/types.ts";
import { MAX_MEDIA_BYTES } from "../whatsapp/media-types.ts";
import { metaError } from "../whatsapp/meta-errors.ts";
import {
  ClearFailuresQuery,
  CreateFailureBody,
  InboundBody,
  InboundResult,
  ListSendsQuery,
  SandboxFailure,
  SandboxSend,
} from "./control-schemas.ts";
import * as controls from "./controls.ts";
import { submitDisplayName } from "./display-names.ts";
import { MetaHttpError, refuse, unknownObject } from "./errors.ts";
import * as graph from "./graph.ts";
import * as numberSettings from "./number-settings.ts";
import { startSandboxWorker, stopSandboxWorker } from "./webhooks.ts";

type Query = Record<string, string | undefined>;
type Params = { version: string; id: string };

/**
 * The token of a Graph call: `Authorization: Bearer …` (or `OAuth …`, which Meta's upload
 * API documents), or Meta's `access_token` query parameter.
 */
function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^(?:bearer|oauth)\s+(.+)$/i.exec(request.headers.authorization ?? "");
  if (match) return match[1]!.trim();
  return (request.query as Query | undefined)?.access_token;
}

/** The origin the caller reached us at, so URLs handed out work for that caller. */
function callerBase(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * Graph calls need a sandbox token; `debug_token` also takes an app access token
 * (`{app_id}|{app_secret}`), which is what Meta wants there.
 */
function requireSandboxToken(request: FastifyRequest, allowAppToken = false): void {
  const token = bearerToken(request);
  const appToken = allowAppToken && typeof token === "string" && /^[^|\s]+\|[^|\s]+$/.test(token);
  if (!graph.isSandboxToken(token) && !appToken) {
    const { status, body } = metaError(
      "authentication",
      "Invalid OAuth access token - Cannot parse access token",
    );
    throw new MetaHttpError(status, body);
  }
}

/**
 * The sandbox's WhatsApp Cloud API: Meta's paths under `/sandbox/graph/{version}`, Meta's
 * success bodies and Meta's `{"error": {...}}` for every failure.
 */
async function graphApi(app: Server, ctx: AppContext): Promise<void> {
  app.setErrorHandler((error: FastifyError | MetaHttpError, request, reply) => {
    if (error instanceof MetaHttpError) return reply.code(error.status).send(error.body);
    const fastifyError = error as FastifyError;
    let answer: ReturnType<typeof metaError>;
    if (fastifyError.code === "FST_REQ_FILE_TOO_LARGE") {
      answer = metaError("mediaError", "(#131053) Media upload error", "the file is larger than 100 MB");
    } else if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      answer = metaError("invalidParameter", `(#100) ${fastifyError.message}`);
    } else {
      request.log.error({ err: error }, "sandbox request failed");
      answer = metaError("genericUser", "An unexpected error has occurred. Please retry your request later.");
      answer.body.error.code = 2;
    }
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = metaError(
      "unsupported",
      `Unsupported ${request.method.toLowerCase()} request. Unknown path components: ${request.url.split("?")[0]}`,
    );
    reply.code(status).send(body);
  });
  app.addHook("onRequest", async (request) => {
    const version = (request.params as Partial<Params>).version ?? "";
    if (!/^v\d+\.\d+$/.test(version)) {
      refuse("unsupported", `Unknown path components: /${version}`);
    }
  });
  await app.register(multipart, { limits: { fileSize: MAX_MEDIA_BYTES, files: 1, fields: 10 } });
  // The bytes of a resumable upload (`POST /upload:…`).
  app.addContentTypeParser(
    "application/octet-stream",
    { parseAs: "buffer", bodyLimit: MAX_MEDIA_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.get<{ Querystring: Query }>("/oauth/access_token", async (request) =>
    graph.exchangeCode(request.query.code),
  );

  app.get<{ Querystring: Query }>("/debug_token", async (request) => {
    requireSandboxToken(request, true);
    return graph.debugToken(request.query.input_token);
  });

  await app.register(async (authed) => {
    authed.addHook("onRequest", async (request) => requireSandboxToken(request));

    authed.get<{ Params: Params; Querystring: Query }>("/:id", async (request) => {
      const { id } = request.params;
      if (graph.isUploadSessionId(id)) return graph.getUploadSession(ctx, id);
      const media = await graph.getMedia(ctx, id, callerBase(request), request.query.phone_number_id);
      if (media) return media;
      const template = await graph.getTemplate(ctx, id, request.query.fields);
      if (template) return template;
      return graph.getPhoneNumber(ctx, id, request.query.fields);
    });

    authed.delete<{ Params: Params; Querystring: Query }>("/:id", async (request) => {
      const { id } = request.params;
      if (!(await graph.deleteMedia(ctx, id, request.query.phone_number_id))) unknownObject(id);
      return { success: true };
    });

    // A resumable upload's bytes, or a display-name submission (`new_display_name`).
    authed.post<{ Params: Params; Querystring: Query; Body: unknown }>("/:id", async (request) => {
      const { id } = request.params;
      if (graph.isUploadSessionId(id)) {
        if (!Buffer.isBuffer(request.body)) {
          refuse("invalidParameter", "Invalid parameter", "send the bytes as application/octet-stream");
        }
        const offset = request.headers.file_offset;
        return graph.appendToUpload(ctx, id, typeof offset === "string" ? offset : undefined, request.body);
      }
      const body = request.body as Record<string, unknown> | undefined;
      const fromBody = typeof body?.new_display_name === "string" ? body.new_display_name : undefined;
      return submitDisplayName(ctx, id, request.query.new_display_name ?? fromBody);
    });

    authed.post<{ Params: Params; Querystring: Query }>("/:id/uploads", async (request) =>
      graph.createUploadSession(ctx, request.params.id, request.query),
    );

    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/messages", async (request) =>
      graph.postMessages(ctx, request.params.id, bodyObject(request.body)),
    );

    authed.post<{ Params: Params }>("/:id/media", async (request) => {
      if (!request.isMultipart()) refuse("invalidParameter", "The parameter file is required.");
      const fields: Record<string, string> = {};
      let file: { data: Buffer; mimetype: string; filename?: string } | undefined;
      for await (const part of request.parts()) {
        if (part.type === "file") {
          file = {
            data: await part.toBuffer(),
            mimetype: part.mimetype,
            filename: part.filename || undefined,
          };
        } else if (typeof part.value === "string") {
          fields[part.fieldname] = part.value;
        }
      }
      return graph.uploadMedia(ctx, request.params.id, { fields, file });
    });

    authed.get<{ Params: Params; Querystring: Query }>("/:id/message_templates", async (request) =>
      graph.listTemplates(ctx, request.params.id, request.query, new URL(request.url, callerBase(request))),
    );
    authed.post<{ Params: Params; Body: Record<string, unknown> }>(
      "/:id/message_templates",
      async (request) => graph.createTemplate(ctx, request.params.id, bodyObject(request.body)),
    );
    authed.delete<{ Params: Params; Querystring: Query }>("/:id/message_templates", async (request) =>
      graph.deleteTemplate(ctx, request.params.id, request.query.name, request.query.hsm_id),
    );

    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/register", async (request) =>
      graph.register(ctx, request.params.id, bodyObject(request.body), true, bearerToken(request)),
    );
    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/deregister", async (request) =>
      graph.register(
        ctx,
        request.params.id,
        { messaging_product: "whatsapp", ...bodyObject(request.body) },
        false,
      ),
    );

    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/request_code", async (request) =>
      numberSettings.requestCode(ctx, request.params.id, bodyObject(request.body)),
    );
    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/verify_code", async (request) =>
      numberSettings.verifyCode(ctx, request.params.id, bodyObject(request.body)),
    );
    authed.get<{ Params: Params; Querystring: Query }>("/:id/settings", async (request) =>
      numberSettings.getSettings(ctx, request.params.id, request.query.include_sip_credentials),
    );
    authed.post<{ Params: Params; Body: Record<string, unknown> }>("/:id/settings", async (request) =>
      numberSettings.updateSettings(ctx, request.params.id, bodyObject(request.body)),
    );

    authed.get<{ Params: Params; Querystring: Query }>("/:id/whatsapp_business_profile", async (request) =>
      graph.getBusinessProfile(ctx, request.params.id, request.query.fields),
    );
    authed.post<{ Params: Params; Body: Record<string, unknown> }>(
      "/:id/whatsapp_business_profile",
      async (request) => graph.updateBusinessProfile(ctx, request.params.id, bodyObject(request.body)),
    );

    authed.get<{ Params: Params }>("/:id/subscribed_apps", async (request) =>
      graph.listSubscribedApps(ctx, request.params.id),
    );
    authed.post<{ Params: Params }>("/:id/subscribed_apps", async (request) =>
      graph.subscribeApp(ctx, request.params.id, true),
    );
    authed.delete<{ Params: Params }>("/:id/subscribed_apps", async (request) =>
      graph.subscribeApp(ctx, request.params.id, false),
    );

    authed.get<{ Params: Params }>("/:id/phone_numbers", async (request) =>
      graph.listWabaPhoneNumbers(ctx, request.params.id),
    );
  });
}

/** A JSON body must be an object (Meta answers 100 for anything else, or for none). */
function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    refuse("invalidParameter", "Invalid parameter", "the request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

const tags = ["Sandbox"];

/** Sandbox controls for tests and demos, authenticated with a project's API key. */
function controlRoutes(app: Server, ctx: AppContext): void {
  requireApiKey(app, ctx);

  app.post(
    "/failures",
    {
      schema: {
        tags,
        summary: "Inject failures into the sandbox",
        body: CreateFailureBody,
        response: { 201: Envelope(SandboxFailure), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const failure = await controls.injectFailure(ctx, request.auth.projectId, request.body);
      return reply.code(201).send(envelope(failure));
    },
  );

  app.delete(
    "/failures",
    {
      schema: {
        tags,
        summary: "Remove a number's pending injected failures",
        querystring: ClearFailuresQuery,
        response: { 204: Type.Null(), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      await controls.clearFailures(ctx, request.auth.projectId, request.query.phone_number_id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/sends",
    {
      schema: {
        tags,
        summary: "List the messages the sandbox accepted for a number",
        querystring: ListSendsQuery,
        response: { 200: OffsetList(SandboxSend), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      const result = await controls.listSends(ctx, request.auth.projectId, request.query, page);
      return sendOffsetPage(request, reply, result);
    },
  );

  app.post(
    "/inbound",
    {
      schema: {
        tags,
        summary: "Simulate an inbound message (or any webhook value) from WhatsApp",
        body: InboundBody,
        response: { 200: Envelope(InboundResult), ...errorResponses(404, 422, 502) },
      },
    },
    async (request) => envelope(await controls.inbound(ctx, request.auth.projectId, request.body)),
  );
}

/** The built-in WhatsApp Cloud API sandbox, under `/sandbox`, with its status-webhook worker. */
export async function sandboxRoutes(app: Server, ctx: AppContext): Promise<void> {
  await app.register(async (scope) => graphApi(scope as Server, ctx), { prefix: "/graph/:version" });
  await app.register(async (scope) => controlRoutes(scope as Server, ctx));

  // Meta's media URLs need the same bearer token as the API.
  app.get<{ Params: { media_id: string } }>("/media/:media_id", async (request, reply) => {
    if (!graph.isSandboxToken(bearerToken(request))) {
      const { status, body } = metaError(
        "authentication",
        "Invalid OAuth access token - Cannot parse access token",
      );
      return reply.code(status).send(body);
    }
    const media = await graph.readMedia(ctx, request.params.media_id);
    if (!media) return reply.code(404).send({ error: "Media not found" });
    return reply.header("content-type", media.mime_type).send(media.data);
  });

  app.addHook("onReady", async () => startSandboxWorker(ctx));
  app.addHook("onClose", async () => stopSandboxWorker(ctx));
}
