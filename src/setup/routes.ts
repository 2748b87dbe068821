import { Type } from "typebox";
import type { AppContext } from "../context.ts";
import type { Server } from "../http/types.ts";
import {
  abandonOnboarding,
  BROWSER_ERROR_CODES,
  completeOnboarding,
  failureRedirect,
  findLink,
  setupPageData,
  unusableCode,
} from "../modules/setup-links/onboarding.ts";
import { CONNECTION_TYPES } from "../modules/setup-links/schemas.ts";
import { setupPage, unavailablePage } from "./page.ts";
import { pickLanguage } from "./strings.ts";

const Params = Type.Object({ token: Type.String({ maxLength: 200 }) });
const MetaId = Type.String({ pattern: "^\\d{1,30}$" });

const CompleteBody = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 4096 }),
    simulated: Type.Optional(Type.Boolean()),
    connection_type: Type.Optional(Type.Enum(CONNECTION_TYPES)),
    business_account_id: Type.Optional(MetaId),
    phone_number_id: Type.Optional(MetaId),
  },
  { additionalProperties: false },
);

const FailBody = Type.Object(
  {
    error_code: Type.Enum(BROWSER_ERROR_CODES),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

const HTML = "text/html; charset=utf-8";

/**
 * Hosted onboarding at a setup link's `url`: the page, and the two calls it makes (complete an
 * Embedded Signup with its code; report a signup the customer or Meta abandoned). The setup
 * link token in the path is the only credential.
 */
export function setupRoutes(app: Server, ctx: AppContext): void {
  app.get("/setup/:token", { schema: { hide: true, params: Params } }, async (request, reply) => {
    reply
      .header("Cache-Control", "no-store")
      .header("Referrer-Policy", "no-referrer")
      .header("X-Content-Type-Options", "nosniff");
    const link = await findLink(ctx, request.params.token);
    const language = pickLanguage(link?.language ?? null, request.headers["accept-language"]);
    if (!link) {
      return reply
        .code(404)
        .type(HTML)
        .send(unavailablePage({ language, theme: null, reason: "unknown", redirectUrl: null }));
    }
    // Framed only by the link's allowed origins (none listed: not framed at all).
    reply.header("Content-Security-Policy", `frame-ancestors ${link.allowed_origins.join(" ") || "'none'"}`);
    const unusable = unusableCode(link);
    if (unusable) {
      return reply
        .code(410)
        .type(HTML)
        .send(
          unavailablePage({
            language,
            theme: link.theme_config,
            reason: unusable === "already_used" ? "used" : "expired",
            redirectUrl: failureRedirect(link, unusable),
          }),
        );
    }
    const data = await setupPageData(ctx, link);
    return reply.type(HTML).send(
      setupPage({
        language,
        theme: link.theme_config,
        connectionTypes: link.allowed_connection_types,
        customerName: data.customerName,
        meta: data.meta,
        sandbox: data.sandbox,
      }),
    );
  });

  app.post(
    "/setup/:token/complete",
    { schema: { hide: true, params: Params, body: CompleteBody } },
    async (request) => ({ data: await completeOnboarding(ctx, request.params.token, request.body) }),
  );

  app.post(
    "/setup/:token/fail",
    { schema: { hide: true, params: Params, body: FailBody } },
    async (request) => ({ data: await abandonOnboarding(ctx, request.params.token, request.body) }),
  );
}
