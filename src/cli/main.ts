import { Command } from "commander";
import pino from "pino";
import { runOnServer } from "../admin/client.ts";
import { CommandError, runCommand } from "../admin/commands.ts";
import { readServerInfo } from "../admin/server-info.ts";
import { ConfigError, loadConfig } from "../config.ts";
import { DataDirLockedError } from "../db/data-dir-lock.ts";
import { createLogger } from "../logging.ts";
import { openRuntime } from "../runtime.ts";
import { addBroadcastCommands } from "./broadcasts.ts";

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n`);
  process.exit(1);
}

/** Runs a command through the running server when there is one, else on the database directly. */
async function execute(name: string, args: Record<string, unknown>): Promise<unknown> {
  const config = loadConfig();
  const info = readServerInfo(config.dataDir);
  if (info) {
    const remote = await runOnServer(info, name, args);
    if (remote) return remote.result;
  }
  const runtime = await openRuntime(config, createLogger("warn", pino.destination(2)));
  try {
    return await runCommand(runtime.ctx, name, args);
  } finally {
    await runtime.close();
  }
}

function print(result: unknown, json: boolean | undefined, human: (value: never) => string): void {
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `${human(result as never)}\n`);
}

interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  api_key?: string;
}

const keyLine = (k: KeyInfo) =>
  `${k.id}  ${k.prefix}…  ${k.name}  created ${k.created_at}  last used ${k.last_used_at ?? "never"}${
    k.revoked_at ? `  REVOKED ${k.revoked_at}` : ""
  }`;

interface Member {
  id: number;
  user_id: string;
  email: string;
  name: string;
  role: string;
}

export function buildProgram(): Command {
  const program = new Command("parley")
    .description("Parley: self-hosted WhatsApp platform server (Kapso Platform API v1)")
    .showHelpAfterError();

  program
    .command("migrate")
    .description("apply pending database migrations")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const result = (await execute("migrate", {})) as { applied: string[] };
      print(result, opts.json, (r: { applied: string[] }) =>
        r.applied.length
          ? `Applied ${r.applied.length} migration(s): ${r.applied.join(", ")}`
          : "Database is up to date",
      );
    });

  const projects = program.command("projects").description("manage projects");
  projects
    .command("create")
    .description("create a project and print its first API key (shown once)")
    .requiredOption("--name <name>", "project name")
    .option("--json", 'print {"project_id", "api_key"} as JSON')
    .action(async (opts) => {
      const r = (await execute("projects.create", { name: opts.name })) as {
        project_id: string;
        api_key: string;
      };
      if (opts.json) return print({ project_id: r.project_id, api_key: r.api_key }, true, () => "");
      print(r, false, () => `Created project ${r.project_id}\nAPI key (shown only this once): ${r.api_key}`);
    });
  projects
    .command("list")
    .description("list projects")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const rows = (await execute("projects.list", {})) as { id: string; name: string; created_at: string }[];
      print(rows, opts.json, (r: typeof rows) =>
        r.map((p) => `${p.id}  ${p.name}  created ${p.created_at}`).join("\n"),
      );
    });

  const keys = program.command("keys").description("manage a project's API keys");
  keys
    .command("create")
    .description("create an API key (shown once)")
    .option("--project <id>", "project id (default: the only project)")
    .option("--name <name>", "label for the key", "API key")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const key = (await execute("keys.create", { project: opts.project, name: opts.name })) as KeyInfo;
      print(
        key,
        opts.json,
        (k: KeyInfo) => `Created key ${k.id} (${k.name})\nAPI key (shown only this once): ${k.api_key}`,
      );
    });
  keys
    .command("list")
    .description("list API keys (never the keys themselves)")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const rows = (await execute("keys.list", { project: opts.project })) as KeyInfo[];
      print(rows, opts.json, (r: KeyInfo[]) => r.map(keyLine).join("\n") || "No keys");
    });
  keys
    .command("revoke")
    .description("revoke an API key at once")
    .argument("<key_id>", "id of the key")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (keyId, opts) => {
      const key = (await execute("keys.revoke", { project: opts.project, key_id: keyId })) as KeyInfo;
      print(key, opts.json, (k: KeyInfo) => `Revoked key ${k.id} (${k.name})`);
    });

  const users = program.command("users").description("manage a project's members (the API's users)");
  const memberLine = (m: Member) => `${m.user_id}  #${m.id}  ${m.role.padEnd(6)}  ${m.name} <${m.email}>`;
  users
    .command("add")
    .description("add a member to a project (creates the account when the email is new)")
    .requiredOption("--email <email>", "the member's email")
    .requiredOption("--name <name>", "the member's name")
    .option("--role <role>", "owner or member", "member")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const r = (await execute("users.add", {
        project: opts.project,
        email: opts.email,
        name: opts.name,
        role: opts.role,
      })) as { member: Member; created: boolean };
      print(r.member, opts.json, (m: Member) =>
        r.created ? `Added ${memberLine(m)}` : `Already a member: ${memberLine(m)}`,
      );
    });
  users
    .command("list")
    .description("list a project's members")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const rows = (await execute("users.list", { project: opts.project })) as Member[];
      print(rows, opts.json, (r: Member[]) => r.map(memberLine).join("\n") || "No members");
    });
  users
    .command("remove")
    .description("remove a member (ends their assignments, revokes embeds assigned to them)")
    .argument("<user_id>", "the member's user_id")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (userId, opts) => {
      const m = (await execute("users.remove", { project: opts.project, user_id: userId })) as Member;
      print(m, opts.json, (x: Member) => `Removed ${memberLine(x)}`);
    });

  const sandbox = program.command("sandbox").description("the built-in WhatsApp Cloud API sandbox");
  sandbox
    .command("inbound")
    .description("simulate an inbound WhatsApp text message (needs the running server)")
    .requiredOption("--from <phone>", "sender's phone number, e.g. 15551234567")
    .requiredOption("--text <text>", "message text")
    .option("--phone-number-id <id>", "receiving number (default: the project's only sandbox number)")
    .option("--profile-name <name>", "sender's WhatsApp profile name")
    .option("--project <id>", "project id (default: the only project)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const result = (await execute("sandbox.inbound", {
        project: opts.project,
        phone_number_id: opts.phoneNumberId,
        from: opts.from,
        text: opts.text,
        profile_name: opts.profileName,
      })) as { wamid: string; phone_number_id: string; from: string };
      print(
        result,
        opts.json,
        (r: typeof result) => `Delivered message ${r.wamid} from ${r.from} to ${r.phone_number_id}`,
      );
    });

  addBroadcastCommands(program);
  return program;
}

buildProgram()
  .parseAsync()
  .catch((err) => {
    if (err instanceof ConfigError || err instanceof CommandError || err instanceof DataDirLockedError)
      fail(err.message);
    fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
  });
