import { Type } from "typebox";
import type { AppContext } from "../../context.ts";
import type { Server } from "../../http/types.ts";
import { ProviderModel } from "./catalogue.ts";

export function providerModelRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/provider_models",
    {
      schema: {
        tags: ["Provider Models"],
        operationId: "listProviderModels",
        summary: "List provider models",
        description: "The AI models configured for this deployment (`PARLEY_PROVIDER_MODELS_FILE`).",
        response: { 200: Type.Object({ data: Type.Array(ProviderModel) }) },
      },
    },
    async () => ({ data: ctx.config.providerModels }),
  );
}
