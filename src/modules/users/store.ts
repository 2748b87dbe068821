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
