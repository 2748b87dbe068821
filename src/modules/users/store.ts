import sql from "sql-template-tag";
import type { Queryable } from "../../db/database.ts";

/** A user's membership of a project, in the API's `User` shape. */
export interface ProjectMember {
  /** The membership id (an integer). */
  id: number;
  user_id: string;
  email: string;
  name: string;
  role: "owner" | "member";
}

/** The member of `projectId` whose account id is `userId`, if any. */
export async function findProjectMember(
  db: Queryable,
  projectId: string,
  userId: string,
): Promise<ProjectMember | undefined> {
  const [row] = await db.query<ProjectMember>(sql`
    SELECT m.id, u.id AS user_id, u.email, u.name, m.role
    FROM project_members m JOIN users u ON u.id = m.user_id
    WHERE m.project_id = ${projectId} AND m.user_id = ${userId}`);
  return row;
}

const MEMBER_SELECT = sql`
  SELECT m.id, u.id AS user_id, u.email, u.name, m.role
  FROM project_members m JOIN users u ON u.id = m.user_id`;

/** The project's members, oldest membership first (owners were usually added first). */
export async function listProjectMembers(
  db: Queryable,
  projectId: string,
  page: { perPage: number; page: number },
): Promise<{ rows: ProjectMember[]; total: number }> {
  const rows = await db.query<ProjectMember>(sql`
    ${MEMBER_SELECT} WHERE m.project_id = ${projectId}
    ORDER BY m.id LIMIT ${page.perPage} OFFSET ${(page.page - 1) * page.perPage}`);
  const [count] = await db.query<{ total: number }>(
    sql`SELECT count(*) AS total FROM project_members WHERE project_id = ${projectId}`,
  );
  return { rows, total: count!.total };
}

/**
 * Adds the person with `email` to the project (creating their account when new) and returns the
 * membership; undefined when they are already a member.
 */
export async function addProjectMember(
  tx: Queryable,
  projectId: string,
  input: { email: string; name: string; role: ProjectMember["role"] },
): Promise<ProjectMember | undefined> {
  const [user] = await tx.query<{ id: string }>(sql`
    INSERT INTO users (email, name) VALUES (${input.email}, ${input.name})
    ON CONFLICT (lower(email)) DO UPDATE SET updated_at = users.updated_at
    RETURNING id`);
  const [membership] = await tx.query<{ id: number }>(sql`
    INSERT INTO project_members (project_id, user_id, role) VALUES (${projectId}, ${user!.id}, ${input.role})
    ON CONFLICT (project_id, user_id) DO NOTHING
    RETURNING id`);
  if (!membership) return undefined;
  return findProjectMember(tx, projectId, user!.id);
}

/**
 * Removes a membership: the person's active conversation assignments in the project end, and
 * inbox embeds assigned to them are revoked (they would otherwise show a former member's view).
 */
export async function removeProjectMember(
  tx: Queryable,
  projectId: string,
  userId: string,
): Promise<ProjectMember | undefined> {
  const member = await findProjectMember(tx, projectId, userId);
  if (!member) return undefined;
  await tx.query(sql`
    UPDATE conversation_assignments SET active = false, updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND user_id = ${userId} AND active`);
  await tx.query(sql`
    UPDATE inbox_embeds SET status = 'revoked', updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND assigned_user_id = ${userId} AND status = 'active'`);
  await tx.query(sql`DELETE FROM project_members WHERE project_id = ${projectId} AND user_id = ${userId}`);
  return member;
}

export async function findProjectMemberByEmail(
  db: Queryable,
  projectId: string,
  email: string,
): Promise<ProjectMember | undefined> {
  const [row] = await db.query<ProjectMember>(
    sql`${MEMBER_SELECT} WHERE m.project_id = ${projectId} AND lower(u.email) = lower(${email})`,
  );
  return row;
}
