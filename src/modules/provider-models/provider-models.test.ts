import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { startTestApp } from "../../../test/support/app.ts";
import { loadConfig } from "../../config.ts";
import { DEFAULT_PROVIDER_MODELS } from "./catalogue.ts";

const file = (content: string) => {
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "models-")), "models.json");
  fs.writeFileSync(p, content);
  return p;
};

describe("GET /provider_models", () => {
  it("serves the default catalogue, or the configured one, in Kapso's shape", async () => {
    const custom = [
      { ...DEFAULT_PROVIDER_MODELS[0]!, id: "11111111-1111-4111-8111-111111111111", name: "house-model" },
    ];
    for (const [env, expected] of [
      [{}, DEFAULT_PROVIDER_MODELS],
      [{ PARLEY_PROVIDER_MODELS_FILE: file(JSON.stringify(custom)) }, custom],
    ] as const) {
      const t = await startTestApp({ env: { ...env } });
      try {
        const p = await t.createProject();
        const response = await t.api(p, { method: "GET", url: "/platform/v1/provider_models" });
        assert.equal(response.statusCode, 200);
        assert.deepEqual(response.json(), { data: expected });
        assert.equal(
          (await t.request({ method: "GET", url: "/platform/v1/provider_models" })).statusCode,
          401,
        );
      } finally {
        await t.close();
      }
    }
  });

  it("refuses a bad catalogue file at start, naming the variable", () => {
    assert.throws(
      () => loadConfig({ PARLEY_PROVIDER_MODELS_FILE: "/nonexistent.json" }),
      /^.*PARLEY_PROVIDER_MODELS_FILE cannot be read/,
    );
    assert.throws(() => loadConfig({ PARLEY_PROVIDER_MODELS_FILE: file("{}") }), /must contain a JSON array/);
    assert.throws(
      () => loadConfig({ PARLEY_PROVIDER_MODELS_FILE: file(JSON.stringify([{ id: "x", name: "m" }])) }),
      /PARLEY_PROVIDER_MODELS_FILE item 0/,
    );
  });
});
