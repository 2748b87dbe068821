import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has defaults for an empty environment", () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, path.resolve("./data"));
    assert.equal(config.publicUrl, "http://localhost:8080");
    assert.equal(config.logLevel, "info");
  });

  it("reads every variable", () => {
    const config = loadConfig({
      PORT: "9000",
      HOST: "127.0.0.1",
      DATABASE_URL: "postgres://u@db:5432/parley",
      PARLEY_DATA_DIR: "/tmp/parley-data",
      PUBLIC_URL: "https://parley.example.com/",
      LOG_LEVEL: "debug",
    });
    assert.equal(config.port, 9000);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.databaseUrl, "postgres://u@db:5432/parley");
    assert.equal(config.dataDir, "/tmp/parley-data");
    assert.equal(config.publicUrl, "https://parley.example.com", "trailing slash dropped");
    assert.equal(config.logLevel, "debug");
  });

  it("reads the messaging settings, with the sandbox on by default only when embedded", () => {
    const key = "a".repeat(64);
    const embedded = loadConfig({ PARLEY_ENV: "production", PARLEY_ENCRYPTION_KEY: key });
    assert.equal(embedded.env, "production");
    assert.equal(embedded.encryptionKey?.length, 32);
    assert.equal(embedded.sandboxEnabled, true);
    assert.equal(embedded.meta.graphUrl, "https://graph.facebook.com");
    assert.equal(embedded.meta.graphVersion, "v24.0");
    assert.equal(embedded.meta.graphTimeoutSeconds, 15);
    assert.equal(loadConfig({ META_GRAPH_TIMEOUT_SECONDS: "60" }).meta.graphTimeoutSeconds, 60);
    assert.deepEqual(embedded.outboundAllowlist, []);
    const server = loadConfig({
      DATABASE_URL: "postgres://x/y",
      PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1, localhost,10.0.0.0/8",
      META_APP_SECRET: "s",
      META_GRAPH_URL: "http://graph.local/",
    });
    assert.equal(server.sandboxEnabled, false);
    assert.equal(server.encryptionKey, undefined);
    assert.deepEqual(server.outboundAllowlist, ["127.0.0.1", "localhost", "10.0.0.0/8"]);
    assert.equal(server.meta.appSecret, "s");
    assert.equal(server.meta.graphUrl, "http://graph.local");
    assert.equal(loadConfig({ DATABASE_URL: "postgres://x/y", PARLEY_SANDBOX: "on" }).sandboxEnabled, true);
    assert.equal(embedded.displayNamePollSeconds, 600);
    assert.equal(loadConfig({ PARLEY_DISPLAY_NAME_POLL_SECONDS: "30" }).displayNamePollSeconds, 30);
  });

  it("defaults PUBLIC_URL to the configured port", () => {
    assert.equal(loadConfig({ PORT: "9001" }).publicUrl, "http://localhost:9001");
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: "http" }, /^PORT must be an integer/],
    [{ PORT: "70000" }, /^PORT must be an integer between 0 and 65535/],
    [{ PORT: "-1" }, /^PORT/],
    [{ DATABASE_URL: "not a url" }, /^DATABASE_URL must be a URL/],
    [{ DATABASE_URL: "mysql://x/y" }, /^DATABASE_URL must use one of postgres:, postgresql:/],
    [{ PUBLIC_URL: "parley.example.com" }, /^PUBLIC_URL must be a URL/],
    [{ PUBLIC_URL: "ftp://x" }, /^PUBLIC_URL must use one of http:, https:/],
    [{ LOG_LEVEL: "loud" }, /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/],
    [{ PARLEY_ENV: "staging" }, /^PARLEY_ENV must be one of development, production/],
    [{ PARLEY_ENV: "production" }, /^PARLEY_ENCRYPTION_KEY is required when PARLEY_ENV is production/],
    [{ PARLEY_ENCRYPTION_KEY: "c2hvcnQ=" }, /^PARLEY_ENCRYPTION_KEY must be 32 bytes/],
    [{ PARLEY_SANDBOX: "maybe" }, /^PARLEY_SANDBOX must be true or false/],
    [{ META_GRAPH_VERSION: "24" }, /^META_GRAPH_VERSION must look like v24.0/],
    [{ META_GRAPH_URL: "graph" }, /^META_GRAPH_URL must be a URL/],
    [{ META_GRAPH_TIMEOUT_SECONDS: "0" }, /^META_GRAPH_TIMEOUT_SECONDS must be a positive integer/],
    [
      { PARLEY_DISPLAY_NAME_POLL_SECONDS: "0" },
      /^PARLEY_DISPLAY_NAME_POLL_SECONDS must be a positive integer/,
    ],
    [
      { PARLEY_DISPLAY_NAME_POLL_SECONDS: "5s" },
      /^PARLEY_DISPLAY_NAME_POLL_SECONDS must be a positive integer/,
    ],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)} with one line naming the variable`, () => {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) =>
          err instanceof ConfigError && message.test(err.message) && !err.message.includes("\n"),
      );
    });
  }
});
