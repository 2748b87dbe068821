import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { testEngine } from "../../../test/support/database.ts";
import { type ContactRow, findOrCreateContactsByWaId, updateContactIdentity } from "./store.ts";

let t: TestApp;
let a: TestProject;

before(async () => {
  t = await startTestApp();
  a = await t.createProject("A");
});
after(() => t.close());

const wanted = (waId: string, profileName?: string | null) => ({ projectId: a.projectId, waId, profileName });

const stored = async (waId: string) => {
  const [row] = await t.ctx.db.query<ContactRow>(
    sql`SELECT * FROM contacts WHERE project_id = ${a.projectId} AND wa_id = ${waId}`,
  );
  return row!;
};

/** Resolves with `promise`'s value, or "blocked" when it has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, sleep(ms).then(() => "blocked" as const)]);

describe("finding or creating contacts by WhatsApp id", () => {
  it("creates new contacts, finds known ones, and answers in the order asked", async () => {
    const first = await findOrCreateContactsByWaId(t.ctx.db, [
      wanted("15550701001", "Ana"),
      wanted("15550701002"),
      wanted("15550701001"),
    ]);
    assert.deepEqual(
      first.map((c) => [c.wa_id, c.profile_name, c.inserted]),
      [
        ["15550701001", "Ana", true],
        ["15550701002", null, true],
        ["15550701001", "Ana", true],
      ],
    );
    assert.equal(first[0]!.id, first[2]!.id);
    const again = await findOrCreateContactsByWaId(t.ctx.db, [
      wanted("15550701002"),
      wanted("15550701001", "Ana"),
    ]);
    assert.deepEqual(
      again.map((c) => [c.id, c.inserted]),
      [
        [first[1]!.id, false],
        [first[0]!.id, false],
      ],
    );
  });

  it("takes a new profile name, and leaves the row alone when the name is absent or the same", async () => {
    const [created] = await findOrCreateContactsByWaId(t.ctx.db, [wanted("15550702001", "Bo")]);
    for (const name of [undefined, null, "Bo"]) {
      const [found] = await findOrCreateContactsByWaId(t.ctx.db, [wanted("15550702001", name)]);
      assert.equal(found!.profile_name, "Bo");
      assert.equal(found!.updated_at, created!.updated_at);
    }
    const [renamed] = await findOrCreateContactsByWaId(t.ctx.db, [wanted("15550702001", "Bob")]);
    assert.deepEqual([renamed!.id, renamed!.profile_name, renamed!.inserted], [created!.id, "Bob", false]);
    assert.ok(renamed!.updated_at > created!.updated_at);
    assert.equal((await stored("15550702001")).profile_name, "Bob");
  });

  it("reads a known contact without locking it: another transaction finds it meanwhile", {
    skip: testEngine() === "pglite" && "PGlite runs one transaction at a time",
  }, async () => {
    await findOrCreateContactsByWaId(t.ctx.db, [wanted("15550703001", "Cy")]);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let found!: () => void;
    const foundInFirst = new Promise<void>((resolve) => {
      found = resolve;
    });
    const first = t.ctx.db.transaction(async (tx) => {
      await findOrCreateContactsByWaId(tx, [wanted("15550703001", "Cy")]);
      found();
      await held;
    });
    await foundInFirst;
    const second = t.ctx.db.transaction((tx) =>
      findOrCreateContactsByWaId(tx, [wanted("15550703001", "Cy")]),
    );
    const outcome = await within(second, 3_000);
    release();
    await first;
    assert.notEqual(outcome, "blocked");
    assert.equal((await second)[0]!.inserted, false);
  });

  it("makes one row for a person two transactions meet at once, the second finding the first's", {
    skip: testEngine() === "pglite" && "PGlite runs one transaction at a time",
  }, async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let created!: (row: ContactRow) => void;
    const createdInFirst = new Promise<ContactRow>((resolve) => {
      created = resolve;
    });
    const first = t.ctx.db.transaction(async (tx) => {
      const [row] = await findOrCreateContactsByWaId(tx, [wanted("15550704001", "Di")]);
      created(row!);
      await held;
    });
    const row = await createdInFirst;
    const second = t.ctx.db.transaction((tx) =>
      findOrCreateContactsByWaId(tx, [wanted("15550704001", "Dee")]),
    );
    // The second waits for the first to commit or roll back before it can tell.
    assert.equal(await within(second, 300), "blocked");
    release();
    await first;
    const [found] = await second;
    assert.deepEqual([found!.id, found!.inserted, found!.profile_name], [row.id, false, "Dee"]);
    const rows = await t.ctx.db.query(
      sql`SELECT id FROM contacts WHERE project_id = ${a.projectId} AND wa_id = '15550704001'`,
    );
    assert.equal(rows.length, 1);
  });
});

describe("storing a contact's identity", () => {
  it("keeps what another writer stored after the caller read the contact", async () => {
    const [read] = await findOrCreateContactsByWaId(t.ctx.db, [wanted("15550705001", "Ed")]);
    await updateContactIdentity(t.ctx.db, read!, { bsuid: "US.1550705001" });
    const updated = await updateContactIdentity(t.ctx.db, read!, { username: "ed" });
    assert.deepEqual(
      [updated.business_scoped_user_id, updated.username, updated.profile_name],
      ["US.1550705001", "ed", "Ed"],
    );
  });
});
