import { Type } from "typebox";
import { OffsetQuery, Uuid } from "../../http/schemas.ts";

export const USER_ROLES = ["owner", "member"] as const;

/** The `User` schema of the Kapso Platform API: a project membership. */
export const User = Type.Object({
  id: Type.Integer({ description: "Project membership ID" }),
  user_id: Uuid,
  email: Type.String({ format: "email" }),
  name: Type.String(),
  role: Type.Enum(USER_ROLES),
});

export const ListUsersQuery = Type.Object({ ...OffsetQuery });
