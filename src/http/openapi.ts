import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { AppContext } from "../context.ts";
import type { Server } from "./types.ts";

export const PLATFORM_PREFIX = "/platform/v1";

/**
 * The OpenAPI 3.1 document is generated from the route schemas themselves. Only the Platform
 * API is described, with Kapso's layout: server `…/platform/v1`, paths relative to it.
 */
export async function registerOpenApi(app: Server, ctx: AppContext): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Parley Platform API",
        version: "0.2.0",
        description: "Self-hosted, Kapso Platform API v1 compatible WhatsApp platform.",
      },
      servers: [{ url: `${ctx.config.publicUrl}${PLATFORM_PREFIX}` }],
      components: { securitySchemes: { ApiKeyAuth: { type: "apiKey", in: "header", name: "X-API-Key" } } },
      security: [{ ApiKeyAuth: [] }],
    },
    transform: ({ schema, url }) => {
      if (!url.startsWith(`${PLATFORM_PREFIX}/`) || url === `${PLATFORM_PREFIX}/openapi.json`) {
        return { schema: { ...schema, hide: true }, url };
      }
      return { schema, url: url.slice(PLATFORM_PREFIX.length) };
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get(`${PLATFORM_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());
}
