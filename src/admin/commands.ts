import type { AppContext } from "../context.ts";
import { migrate } from "../db/migrate.ts";
import { HttpError } from "../http/errors.ts";
import { isUuid } from "../lib/ids.ts";
import { findProjectPhoneNumber, listProjectNumbersOfKind } from "../modules/phone-numbers/store.ts";
import * as projects from "../modules/projects/service.ts";
import * as users from "../modules/users/service.ts";
import { simulateInbound } from "../sandbox/inbound.ts";

/**
 * Operator commands. The CLI runs them directly on the database when no server is running,
 * and through the running server's loopback admin API when one is (embedded PGlite allows a
 * single process); either way the same function runs, so results are identical.
 */
export class CommandError extends Error {
  override name = "CommandError";
}

type Args = Record<string, unknown>;
type Command = (ctx: AppContext, args: Args) => Promise<unknown>;

function text(args: Args, name: string, required: boolean): string | undefined {
  const value = args[name];
  if (value === undefined || value === null || value === "") {
    if (required) throw new CommandError(`--${name.replace(/_/g, "-")} is required`);
    return undefined;
  }
  if (typeof value !== "string") throw new CommandError(`--${name.replace(/_/g, "-")} must be text`);
  return value.trim();
}

/** The project named by `--project`, or the only project when there is exactly one. */
async function projectId(ctx: AppContext, args: Args): Promise<string> {
  const given = text(args, "project", false);
  if (given) return given;
  const all = await projects.listProjects(ctx.db);
  if (all.length === 1) return all[0]!.id;
  throw new CommandError(
    `--project is required (${all.length} projects exist; see \`parley projects list\`)`,
  );
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof projects.ProjectNotFoundError || err instanceof HttpError) {
      throw new CommandError(err.message);
    }
    throw err;
  }
}

/** The number named by `--phone-number-id`, or the project's only sandbox number. */
async function sandboxNumberId(ctx: AppContext, project: string, args: Args): Promise<string> {
  const given = text(args, "phone_number_id", false);
  if (given) {
    if (!(await findProjectPhoneNumber(ctx.db, project, given))) {
      throw new CommandError(`Phone number ${given} not found in project ${project}`);
    }
    return given;
  }
  const numbers = await listProjectNumbersOfKind(ctx.db, project, "sandbox");
  if (numbers.length === 1) return numbers[0]!.phone_number_id;
  throw new CommandError(`--phone-number-id is required (the project has ${numbers.length} sandbox numbers)`);
}

export const commands: Record<string, Command> = {
  async migrate(ctx) {
    return { applied: await migrate(ctx.db) };
  },
  async "projects.create"(ctx, args) {
    const name = text(args, "name", true)!;
    if (name.length > 255) throw new CommandError("--name must be at most 255 characters");
    const { project, key } = await projects.createProject(ctx.db, name);
    return { project_id: project.id, name: project.name, api_key: key.api_key, api_key_id: key.id };
  },
  async "projects.list"(ctx) {
    return projects.listProjects(ctx.db);
  },
  async "keys.create"(ctx, args) {
    const id = await projectId(ctx, args);
    const name = text(args, "name", false) ?? "API key";
    return guard(() => projects.createApiKey(ctx.db, id, name));
  },
  async "keys.list"(ctx, args) {
    const id = await projectId(ctx, args);
    return guard(() => projects.listApiKeys(ctx.db, id));
  },
  async "keys.revoke"(ctx, args) {
    const id = await projectId(ctx, args);
    const keyId = text(args, "key_id", true)!;
    const key = await guard(() => projects.revokeApiKey(ctx.db, id, keyId));
    if (!key) throw new CommandError(`API key ${keyId} not found in project ${id}`);
    return key;
  },
  async "users.add"(ctx, args) {
    const id = await projectId(ctx, args);
    const input = {
      email: text(args, "email", true)!,
      name: text(args, "name", true)!,
      role: text(args, "role", false) ?? "member",
    };
    await guard(() => projects.requireProject(ctx.db, id));
    return guard(() => users.addUser(ctx, id, input));
  },
  async "users.list"(ctx, args) {
    const id = await projectId(ctx, args);
    await guard(() => projects.requireProject(ctx.db, id));
    return (await users.listUsers(ctx, id, { page: 1, perPage: 10_000 })).data;
  },
  async "users.remove"(ctx, args) {
    const id = await projectId(ctx, args);
    const userId = text(args, "user_id", true)!;
    const removed = isUuid(userId) ? await users.removeUser(ctx, id, userId) : undefined;
    if (!removed) throw new CommandError(`User ${userId} is not a member of project ${id}`);
    return removed;
  },
  async "sandbox.inbound"(ctx, args) {
    const id = await projectId(ctx, args);
    const phoneNumberId = await sandboxNumberId(ctx, id, args);
    const from = text(args, "from", true)!;
    const body = text(args, "text", true)!;
    if (!ctx.config.sandboxEnabled) throw new CommandError("The sandbox is off (PARLEY_SANDBOX=false)");
    return guard(() =>
      simulateInbound(ctx, {
        phoneNumberId,
        from,
        profileName: text(args, "profile_name", false),
        message: { type: "text", text: { body } },
      }),
    );
  },
};

export async function runCommand(ctx: AppContext, name: string, args: Args): Promise<unknown> {
  const command = commands[name];
  if (!command) throw new CommandError(`Unknown command ${name}`);
  return command(ctx, args);
}
