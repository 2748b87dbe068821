import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../config.ts";
import { retryDelaySeconds } from "./dispatcher.ts";

describe("webhook retry schedule", () => {
  const config = loadConfig({});
  const HOUR = 3600;

  it("retries after 10, 40 and 90 s, then backs off exponentially with jitter up to an hour", () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => retryDelaySeconds(config, n, 0)),
      [10, 40, 90],
    );
    for (let i = 0; i < 50; i++) {
      const fourth = retryDelaySeconds(config, 4, 200)!;
      assert.ok(fourth >= 90 && fourth <= 180, String(fourth));
      const fifth = retryDelaySeconds(config, 5, 500)!;
      assert.ok(fifth >= 180 && fifth <= 360, String(fifth));
      const late = retryDelaySeconds(config, 12, 5 * HOUR)!;
      assert.ok(late >= 1800 && late <= 3600, String(late));
    }
  });

  it("stops at the end of the retry window (24 h by default; 0 keeps Kapso's three retries)", () => {
    assert.equal(retryDelaySeconds(config, 20, 24 * HOUR), undefined);
    const edge = retryDelaySeconds(config, 20, 24 * HOUR - 5)!;
    assert.ok(edge > 0 && edge <= 5, "the last attempt lands at the window's end");
    const kapso = loadConfig({ PARLEY_WEBHOOK_RETRY_WINDOW_HOURS: "0" });
    assert.equal(retryDelaySeconds(kapso, 3, 100), 90);
    assert.equal(retryDelaySeconds(kapso, 4, 150), undefined);
  });

  it("validates its configuration", () => {
    assert.throws(() => loadConfig({ PARLEY_WEBHOOK_RETRY_WINDOW_HOURS: "-1" }), /RETRY_WINDOW_HOURS/);
    assert.throws(() => loadConfig({ PARLEY_WEBHOOK_RETRY_MAX_DELAY_SECONDS: "0" }), /MAX_DELAY/);
    assert.throws(() => loadConfig({ PARLEY_WEBHOOK_PAUSE_AFTER_FAILURES: "x" }), /PAUSE_AFTER_FAILURES/);
    assert.throws(() => loadConfig({ PARLEY_WEBHOOK_INACTIVITY_MINUTE_SECONDS: "0" }), /INACTIVITY_MINUTE/);
  });
});
