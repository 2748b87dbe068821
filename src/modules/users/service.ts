import type { AppContext } from "../../context.ts";
import { invalid } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { USER_ROLES } from "./schemas.ts";
import * as store from "./store.ts";

export async function listUsers(ctx: AppContext, projectId: string, page: OffsetParams) {
  const { rows, total } = await store.listProjectMembers(ctx.db, projectId, page);
  return offsetPage(rows, total, page);
}

// Deliberately simple: one @, no spaces, a dot in the domain. Delivery is not our concern.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Adds a member; the account is shared across projects by email. */
export async function addUser(
  ctx: AppContext,
  projectId: string,
  input: { email: string; name: string; role: string },
): Promise<{ member: store.ProjectMember; created: boolean }> {
  const email = input.email.trim().toLowerCase();
  const name = input.name.trim();
  if (!EMAIL.test(email) || email.length > 255) throw invalid("email", "must be an email address");
  if (!name || name.length > 255) throw invalid("name", "must be 1 to 255 characters");
  if (!(USER_ROLES as readonly string[]).includes(input.role)) {
    throw invalid("role", `must be one of: ${USER_ROLES.join(", ")}`);
  }
  return ctx.db.transaction(async (tx) => {
    const member = await store.addProjectMember(tx, projectId, {
      email,
      name,
      role: input.role as store.ProjectMember["role"],
    });
    if (member) return { member, created: true };
    return { member: (await store.findProjectMemberByEmail(tx, projectId, email))!, created: false };
  });
}

export function removeUser(ctx: AppContext, projectId: string, userId: string) {
  return ctx.db.transaction((tx) => store.removeProjectMember(tx, projectId, userId));
}
