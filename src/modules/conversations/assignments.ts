import sql from "sql-template-tag";
import { type Static, Type } from "typebox";
import type { AppContext } from "../../context.ts";
import type { Queryable } from "../../db/database.ts";
import { announceToInboxes } from "../../events/publish.ts";
import { envelope } from "../../http/envelope.ts";
import { HttpError, notFound } from "../../http/errors.ts";
import { limitOffset, offsetPage, offsetParams, sendOffsetPage } from "../../http/pagination.ts";
import {
  Envelope,
  errorResponses,
  Nullable,
  OffsetList,
  OffsetQuery,
  Timestamp,
  Uuid,
} from "../../http/schemas.ts";
import type { Server } from "../../http/types.ts";
import { findProjectMember } from "../users/store.ts";

/** The `ConversationAssignment` schema of the Kapso Platform API (no `updated_at`). */
export const ConversationAssignment = Type.Object({
  id: Uuid,
  user_id: Uuid,
  created_by_user_id: Nullable(Uuid),
  notes: Nullable(Type.String()),
  active: Type.Boolean(),
  created_at: Timestamp,
});

const ConversationParams = Type.Object({ conversation_id: Uuid });
const AssignmentParams = Type.Object({ conversation_id: Uuid, id: Uuid });
const CreateBody = Type.Object({
  assignment: Type.Object({
    user_id: Uuid,
    notes: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
  }),
});
const UpdateBody = Type.Object({
  assignment: Type.Object({
    user_id: Type.Optional(Uuid),
    notes: Type.Optional(Nullable(Type.String({ maxLength: 5000 }))),
    active: Type.Optional(Type.Boolean()),
  }),
});

type Assignment = Static<typeof ConversationAssignment>;
const COLUMNS = sql`id, user_id, created_by_user_id, notes, active, created_at`;
const notMember = () => new HttpError(422, "User not found or not a member of this project");
const alreadyActive = () => new HttpError(422, "Conversation already has an active assignment");

async function requireConversation(db: Queryable, projectId: string, id: string): Promise<void> {
  const [row] = await db.query(
    sql`SELECT 1 FROM conversations WHERE project_id = ${projectId} AND id = ${id}`,
  );
  if (!row) throw notFound("Conversation");
}

async function requireMember(ctx: AppContext, projectId: string, userId: string) {
  if (!(await findProjectMember(ctx.db, projectId, userId))) throw notMember();
}

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === "23505";

/**
 * Conversation assignments: one active assignment per conversation (a partial unique index
 * enforces it under concurrency), assignees must be project members, unassigning keeps the
 * record. API-key calls have no acting user, so `created_by_user_id` is null.
 */
export function assignmentRoutes(app: Server, ctx: AppContext): void {
  const tags = ["Conversations"];

  app.get(
    "/whatsapp/conversations/:conversation_id/assignments",
    {
      schema: {
        tags,
        operationId: "listConversationAssignments",
        summary: "List conversation assignments",
        params: ConversationParams,
        querystring: Type.Object({ ...OffsetQuery }),
        response: { 200: OffsetList(ConversationAssignment), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const { projectId } = request.auth;
      const { conversation_id: id } = request.params;
      await requireConversation(ctx.db, projectId, id);
      const page = offsetParams(request.query);
      const rows = await ctx.db.query<Assignment>(sql`
        SELECT ${COLUMNS} FROM conversation_assignments WHERE project_id = ${projectId} AND conversation_id = ${id}
        ORDER BY created_at DESC, id DESC ${limitOffset(page)}`);
      const [count] = await ctx.db.query<{ total: number }>(
        sql`SELECT count(*) AS total FROM conversation_assignments WHERE project_id = ${projectId} AND conversation_id = ${id}`,
      );
      return sendOffsetPage(request, reply, offsetPage(rows, count!.total, page), { link: false });
    },
  );

  app.post(
    "/whatsapp/conversations/:conversation_id/assignments",
    {
      schema: {
        tags,
        operationId: "createConversationAssignment",
        summary: "Assign conversation",
        params: ConversationParams,
        body: CreateBody,
        response: { 201: Envelope(ConversationAssignment), ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const { projectId } = request.auth;
      const { conversation_id: id } = request.params;
      const { user_id: userId, notes } = request.body.assignment;
      await requireConversation(ctx.db, projectId, id);
      await requireMember(ctx, projectId, userId);
      try {
        const [row] = await ctx.db.query<Assignment>(sql`
          INSERT INTO conversation_assignments (project_id, conversation_id, user_id, notes)
          VALUES (${projectId}, ${id}, ${userId}, ${notes ?? null})
          RETURNING ${COLUMNS}`);
        await announceToInboxes(ctx.db, {
          type: "inbox.conversation.assigned",
          projectId,
          conversationId: id,
        });
        return reply.code(201).send(envelope(row!));
      } catch (err) {
        if (isUniqueViolation(err)) throw alreadyActive();
        throw err;
      }
    },
  );

  app.get(
    "/whatsapp/conversations/:conversation_id/assignments/:id",
    {
      schema: {
        tags,
        operationId: "getConversationAssignment",
        summary: "Get conversation assignment",
        params: AssignmentParams,
        response: { 200: Envelope(ConversationAssignment), ...errorResponses(404) },
      },
    },
    async (request) => {
      const [row] = await ctx.db.query<Assignment>(sql`
        SELECT ${COLUMNS} FROM conversation_assignments
        WHERE project_id = ${request.auth.projectId} AND conversation_id = ${request.params.conversation_id}
          AND id = ${request.params.id}`);
      if (!row) throw notFound("Assignment");
      return envelope(row);
    },
  );

  app.patch(
    "/whatsapp/conversations/:conversation_id/assignments/:id",
    {
      schema: {
        tags,
        operationId: "updateConversationAssignment",
        summary: "Update conversation assignment",
        params: AssignmentParams,
        body: UpdateBody,
        response: { 200: Envelope(ConversationAssignment), ...errorResponses(404, 422) },
      },
    },
    async (request) => {
      const { projectId } = request.auth;
      const input = request.body.assignment;
      if (input.user_id) await requireMember(ctx, projectId, input.user_id);
      try {
        const [row] = await ctx.db.query<Assignment>(sql`
          UPDATE conversation_assignments SET
            user_id = COALESCE(${input.user_id ?? null}::uuid, user_id),
            notes = CASE WHEN ${input.notes !== undefined} THEN ${input.notes ?? null} ELSE notes END,
            active = COALESCE(${input.active ?? null}::boolean, active),
            updated_at = clock_timestamp()
          WHERE project_id = ${projectId} AND conversation_id = ${request.params.conversation_id} AND id = ${request.params.id}
          RETURNING ${COLUMNS}`);
        if (!row) throw notFound("Assignment");
        await announceToInboxes(ctx.db, {
          type: "inbox.conversation.assigned",
          projectId,
          conversationId: request.params.conversation_id,
        });
        return envelope(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw alreadyActive();
        throw err;
      }
    },
  );
}
