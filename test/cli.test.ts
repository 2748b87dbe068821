import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ProvisionedDatabase, provisionDatabase } from "./support/database.ts";
import { parley, run, startServer, tempDir } from "./support/process.ts";

/** The environment of a Parley process on this pass's engine, with its own data directory. */
let db: ProvisionedDatabase;
let env: Record<string, string>;
before(async () => {
  db = await provisionDatabase();
  env = { PARLEY_DATA_DIR: tempDir(), ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}) };
});
after(() => db.drop());

const json = (stdout: string) => JSON.parse(stdout);

async function apiStatus(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/platform/v1/inbox_embeds`, { headers: { "x-api-key": key } });
  return response.status;
}

describe("parley CLI without a running server (direct database access)", () => {
  it("creates projects and manages keys", async () => {
    const created = await parley(["projects", "create", "--name", "Acme", "--json"], env);
    assert.equal(created.code, 0, created.stderr);
    const body = json(created.stdout);
    assert.deepEqual(
      Object.keys(body).sort(),
      ["api_key", "project_id"],
      "exactly one object with the two keys",
    );
    assert.match(body.api_key, /^prk_/);

    const key = await parley(["keys", "create", "--project", body.project_id, "--name", "ci", "--json"], env);
    assert.equal(key.code, 0, key.stderr);
    const extra = json(key.stdout);
    assert.equal(extra.name, "ci");

    const listed = json((await parley(["keys", "list", "--project", body.project_id, "--json"], env)).stdout);
    assert.equal(listed.length, 2);
    assert.ok(listed.every((k: Record<string, unknown>) => !("api_key" in k) && !("key_hash" in k)));

    const revoked = await parley(["keys", "revoke", extra.id, "--project", body.project_id], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked key/);

    const human = await parley(["keys", "list", "--project", body.project_id], env);
    assert.match(human.stdout, /REVOKED/);
  });

  it("adds, lists and removes project members", async () => {
    const { project_id: project } = json(
      (await parley(["projects", "create", "--name", "Team", "--json"], env)).stdout,
    );
    const added = await parley(
      [
        "users",
        "add",
        "--project",
        project,
        "--email",
        "Ana@Example.com",
        "--name",
        "Ana",
        "--role",
        "owner",
        "--json",
      ],
      env,
    );
    assert.equal(added.code, 0, added.stderr);
    const ana = json(added.stdout);
    assert.deepEqual(Object.keys(ana).sort(), ["email", "id", "name", "role", "user_id"]);
    assert.equal(ana.email, "ana@example.com");
    const listed = await parley(["users", "list", "--project", project], env);
    assert.match(listed.stdout, new RegExp(`${ana.user_id}\\s+#${ana.id}\\s+owner\\s+Ana <ana@example.com>`));
    const badRole = await parley(
      ["users", "add", "--project", project, "--email", "b@example.com", "--name", "B", "--role", "boss"],
      env,
    );
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /^parley: role must be one of: owner, member\n$/);
    const removed = await parley(["users", "remove", ana.user_id, "--project", project], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed/);
    const again = await parley(["users", "remove", ana.user_id, "--project", project], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not a member of project/);
  });

  it("reports errors in one line with a non-zero exit", async () => {
    const missing = await parley(
      ["keys", "revoke", "00000000-0000-4000-8000-000000000000", "--project", "nope"],
      env,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^parley: Project nope not found\n$/);
    const noName = await parley(["projects", "create"], env);
    assert.notEqual(noName.code, 0);
    assert.match(noName.stderr, /--name/);
  });

  it("migrates, and reports an up-to-date database", async () => {
    const result = await parley(["migrate"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /up to date|Applied/);
    assert.match((await parley(["migrate"], env)).stdout, /Database is up to date/);
  });

  it("runs from the checkout through npx", async () => {
    const result = await run("npx", ["--no-install", "parley", "projects", "list", "--json"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Array.isArray(json(result.stdout)));
  });
});

describe("parley CLI while the server runs", () => {
  it("goes through the server's loopback admin API", async () => {
    const server = await startServer(env);
    try {
      const info = path.join(env.PARLEY_DATA_DIR!, "server.json");
      assert.equal(fs.statSync(info).mode & 0o777, 0o600, "admin secret readable by the owner only");

      const created = await parley(["projects", "create", "--name", "Live", "--json"], env);
      assert.equal(created.code, 0, created.stderr);
      const { api_key: apiKey, project_id: projectId } = json(created.stdout);
      assert.equal(
        await apiStatus(server.url, apiKey),
        200,
        "the new key works on the running server at once",
      );

      const revokeAll = json((await parley(["keys", "list", "--project", projectId, "--json"], env)).stdout);
      await parley(["keys", "revoke", revokeAll[0].id, "--project", projectId], env);
      assert.equal(
        await apiStatus(server.url, apiKey),
        401,
        "a revoked key stops working on the running server",
      );

      const member = await parley(
        [
          "users",
          "add",
          "--project",
          projectId,
          "--email",
          "live@example.com",
          "--name",
          "Live One",
          "--json",
        ],
        env,
      );
      assert.equal(member.code, 0, member.stderr);
      const { api_key: freshKey } = json(
        (await parley(["keys", "create", "--project", projectId, "--json"], env)).stdout,
      );
      const users = await fetch(`${server.url}/platform/v1/users`, { headers: { "x-api-key": freshKey } });
      assert.deepEqual(
        (await users.json()).data.map((u: { email: string }) => u.email),
        ["live@example.com"],
        "a member added through the CLI is listed by the running server",
      );

      const { admin_url: adminUrl } = JSON.parse(fs.readFileSync(info, "utf8"));
      const forged = await fetch(`${adminUrl}/commands/projects.list`, {
        method: "POST",
        headers: { authorization: "Bearer adm_wrong", "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(forged.status, 401);
    } finally {
      assert.equal(await server.stop(), 0, server.output());
    }
    assert.equal(fs.existsSync(path.join(env.PARLEY_DATA_DIR!, "server.json")), false, "removed on shutdown");
  });
});

describe("first start on the embedded database", () => {
  it("creates a default project and prints its key once; a second server on the same data is refused", async () => {
    const dataDir = tempDir();
    const first = await startServer({ PARLEY_DATA_DIR: dataDir });
    try {
      const key = /\b(prk_[A-Za-z0-9_-]+)/.exec(first.output())?.[1];
      assert.ok(key, first.output());
      assert.equal(await apiStatus(first.url, key), 200);

      const second = await run(process.execPath, ["src/main.ts"], { PARLEY_DATA_DIR: dataDir, PORT: "0" });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /is in use by another Parley process/);
    } finally {
      await first.stop();
    }
    const again = await startServer({ PARLEY_DATA_DIR: dataDir });
    try {
      assert.doesNotMatch(again.output(), /prk_/, "the key is printed only on the first start");
    } finally {
      await again.stop();
    }
  });

  it("refuses a bad configuration value with one line naming the variable", async () => {
    const result = await run(process.execPath, ["src/main.ts"], { PORT: "eighty" });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'parley: PORT must be an integer between 0 and 65535 (got "eighty")\n');
  });
});
