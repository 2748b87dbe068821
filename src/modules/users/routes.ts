import type { AppContext } from "../../context.ts";
import { offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import { errorResponses, OffsetList } from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { ListUsersQuery, User } from "./schemas.ts";
import * as service from "./service.ts";

export function userRoutes(app: Server, ctx: AppContext): void {
  app.get(
    "/users",
    {
      schema: {
        tags: ["Users"],
        operationId: "listUsers",
        summary: "List project users",
        description:
          "Lists the members of the project that owns the API key, in the order they were added. Members are managed with `parley users add|list|remove`.",
        querystring: ListUsersQuery,
        response: { 200: OffsetList(User), ...errorResponses(422) },
      },
    },
    async (request, reply) => {
      const page = offsetParams(request.query);
      return sendOffsetPage(request, reply, await service.listUsers(ctx, request.auth.projectId, page), {
        link: false,
      });
    },
  );
}
