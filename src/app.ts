import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify from "fastify";
import type { AppContext } from "./context.ts";
import { embedRoutes } from "./embed/routes.ts";
import { requireApiKey } from "./http/auth.ts";
import { registerErrorHandling } from "./http/errors.ts";
import { PLATFORM_PREFIX, registerOpenApi } from "./http/openapi.ts";
import { registerOpsRoutes } from "./http/ops.ts";
import type { Server } from "./http/types.ts";
import { registerValidation } from "./http/validation.ts";
import { metaProxyRoutes } from "./meta-proxy/routes.ts";
import { apiLogRoutes, registerApiLogRetentionJob } from "./modules/api-logs/routes.ts";
import { ApiLogWriter, logApiRequests } from "./modules/api-logs/writer.ts";
import { broadcastRoutes } from "./modules/broadcasts/routes.ts";
import { registerBroadcastEngine } from "./modules/broadcasts/runner.ts";
import { contactRoutes } from "./modules/contacts/routes.ts";
import { assignmentRoutes } from "./modules/conversations/assignments.ts";
import { registerIdleConversationJob } from "./modules/conversations/idle.ts";
import { conversationRoutes } from "./modules/conversations/routes.ts";
import { customerRoutes } from "./modules/customers/routes.ts";
import { startDisplayNameJobs, stopDisplayNameJobs } from "./modules/display-names/jobs.ts";
import { displayNameRoutes } from "./modules/display-names/routes.ts";
import { inboxEmbedRoutes } from "./modules/inbox-embeds/routes.ts";
import { mediaDownloadRoutes, mediaRoutes } from "./modules/media/routes.ts";
import { phoneNumberRoutes } from "./modules/phone-numbers/routes.ts";
import { providerModelRoutes } from "./modules/provider-models/routes.ts";
import { setupLinkRoutes } from "./modules/setup-links/routes.ts";
import { userRoutes } from "./modules/users/routes.ts";
import { registerDeliveryRetentionJob, webhookRoutes } from "./modules/webhooks/routes.ts";
import { displayNameControlRoutes } from "./sandbox/display-names.ts";
import { sandboxRoutes } from "./sandbox/routes.ts";
import { setupRoutes } from "./setup/routes.ts";
import { startWebhookDispatcher } from "./webhooks/dispatcher.ts";
import { startInactivityWorker, stopInactivityWorker } from "./webhooks/inactivity.ts";
import { webhookReceiverRoutes } from "./whatsapp/receiver.ts";

/** Builds the HTTP application from the modules. No side effects until it listens. */
export async function buildApp(ctx: AppContext): Promise<Server> {
  const app = Fastify({
    loggerInstance: ctx.log,
    genReqId: () => randomUUID(),
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerValidation(app);
  registerErrorHandling(app);
  app.decorateRequest("auth", null as never);

  await registerOpenApi(app, ctx);
  registerOpsRoutes(app, ctx);

  // Every request made with a project key (Platform API and Meta proxy) lands in /api_logs.
  const apiLogs = new ApiLogWriter(ctx.db, ctx.log);
  app.addHook("onClose", async () => apiLogs.close());

  await app.register(
    async (platform) => {
      requireApiKey(platform, ctx);
      logApiRequests(platform, apiLogs);
      apiLogRoutes(platform, ctx);
      broadcastRoutes(platform, ctx);
      contactRoutes(platform, ctx);
      conversationRoutes(platform, ctx);
      assignmentRoutes(platform, ctx);
      customerRoutes(platform, ctx);
      displayNameRoutes(platform, ctx);
      inboxEmbedRoutes(platform, ctx);
      mediaRoutes(platform, ctx);
      phoneNumberRoutes(platform, ctx);
      providerModelRoutes(platform, ctx);
      setupLinkRoutes(platform, ctx);
      userRoutes(platform, ctx);
      webhookRoutes(platform, ctx);
    },
    { prefix: PLATFORM_PREFIX },
  );

  webhookReceiverRoutes(app, ctx);
  embedRoutes(app, ctx);
  mediaDownloadRoutes(app, ctx);
  setupRoutes(app, ctx);
  registerIdleConversationJob(app, ctx);
  let stopDispatcher: (() => Promise<void>) | undefined;
  app.addHook("onReady", async () => {
    stopDispatcher = await startWebhookDispatcher(ctx);
    await startInactivityWorker(ctx);
  });
  app.addHook("onClose", async () => {
    await stopInactivityWorker(ctx);
    await stopDispatcher?.();
  });
  metaProxyRoutes(app, ctx, apiLogs);
  registerApiLogRetentionJob(app, ctx);
  registerDeliveryRetentionJob(app, ctx);
  registerBroadcastEngine(app, ctx);

  if (ctx.config.sandboxEnabled) {
    await app.register(async (sandbox) => sandboxRoutes(sandbox, ctx), { prefix: "/sandbox" });
    await app.register(async (controls) => displayNameControlRoutes(controls, ctx), { prefix: "/sandbox" });
  }

  app.addHook("onReady", async () => startDisplayNameJobs(ctx));
  app.addHook("onClose", async () => stopDisplayNameJobs(ctx));

  return app;
}
