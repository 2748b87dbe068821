import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { Type } from "typebox";
import { startTestApp, type TestApp, type TestProject } from "../../test/support/app.ts";
import { createLogger, redactUrl } from "../logging.ts";
import { HttpError, registerErrorHandling } from "./errors.ts";
import { registerValidation } from "./validation.ts";

let t: TestApp;
let project: TestProject;
before(async () => {
  t = await startTestApp();
  project = await t.createProject();
});
after(() => t.close());

describe("error mapping", () => {
  it("answers unknown routes with a JSON 404", async () => {
    const response = await t.request({ method: "GET", url: "/nowhere?x=1" });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { error: "Route GET /nowhere not found" });
  });

  it("answers an unknown Platform route with 401 before auth, 404 after", async () => {
    assert.equal((await t.request({ method: "GET", url: "/platform/v1/nothing" })).statusCode, 404);
    assert.equal((await t.api(project, { method: "GET", url: "/platform/v1/nothing" })).statusCode, 404);
  });

  it("maps each failure to one JSON shape, and real faults to a 500 without a stack trace", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = Fastify({ loggerInstance: createLogger("error", sink) as FastifyBaseLogger });
    registerValidation(app);
    registerErrorHandling(app);
    app.post(
      "/typed",
      { schema: { body: Type.Object({ n: Type.Integer({ maximum: 5 }) }) } },
      async () => ({}),
    );
    app.get("/teapot", async () => {
      throw new HttpError(418, "short and stout", {
        extra: { hint: "tip me over" },
        headers: { "x-why": "tea" },
      });
    });
    app.get("/boom", async () => {
      throw new Error("database exploded at /secret/path");
    });

    const teapot = await app.inject({ method: "GET", url: "/teapot" });
    assert.equal(teapot.statusCode, 418);
    assert.deepEqual(teapot.json(), { error: "short and stout", hint: "tip me over" });
    assert.equal(teapot.headers["x-why"], "tea");

    const tooBig = await app.inject({ method: "POST", url: "/typed", payload: { n: 9 } });
    assert.equal(tooBig.statusCode, 422);
    assert.deepEqual(tooBig.json(), { error: "n must be <= 5" });

    const notObject = await app.inject({
      method: "POST",
      url: "/typed",
      payload: [1],
      headers: { "content-type": "application/json" },
    });
    assert.equal(notObject.statusCode, 422);
    assert.match(notObject.json().error, /must be an object/);

    const form = await app.inject({
      method: "POST",
      url: "/typed",
      payload: "n=1",
      headers: { "content-type": "text/csv" },
    });
    assert.equal(form.statusCode, 415);

    const boom = await app.inject({ method: "GET", url: "/boom" });
    assert.equal(boom.statusCode, 500);
    const body = boom.json();
    assert.equal(body.error, "Internal server error");
    assert.ok(body.request_id);
    assert.ok(!boom.body.includes("exploded") && !boom.body.includes("at "), "no message or stack leaks");
    assert.ok(
      lines.some((l) => l.includes("database exploded") && l.includes(body.request_id)),
      "the fault is logged with the request id",
    );
    await app.close();
  });
});

describe("ops endpoints", () => {
  it("serves /healthz, /readyz and Prometheus /metrics without a key", async () => {
    assert.deepEqual((await t.request({ method: "GET", url: "/healthz" })).json(), { status: "ok" });
    assert.deepEqual((await t.request({ method: "GET", url: "/readyz" })).json(), { status: "ready" });
    const metrics = await t.request({ method: "GET", url: "/metrics" });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /parley_http_request_duration_seconds_bucket/);
    assert.match(metrics.body, /process_cpu_user_seconds_total/);
  });

  it("serves the OpenAPI 3.1 document generated from the route schemas, and the docs page", async () => {
    const response = await t.request({ method: "GET", url: "/platform/v1/openapi.json" });
    assert.equal(response.statusCode, 200);
    const doc = response.json();
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.servers[0].url, "http://parley.test/platform/v1");
    assert.deepEqual(doc.components.securitySchemes.ApiKeyAuth, {
      type: "apiKey",
      in: "header",
      name: "X-API-Key",
    });
    const embeds = doc.paths["/inbox_embeds/{inbox_embed_id}"];
    assert.equal(embeds.get.operationId, "getInboxEmbed");
    assert.equal(embeds.delete.operationId, "deleteInboxEmbed");
    assert.equal(doc.paths["/inbox_embeds"].post.operationId, "createInboxEmbed");
    assert.ok(
      !Object.keys(doc.paths).some((p) => p.includes("healthz")),
      "ops routes are not part of the API document",
    );
    const docs = await t.request({ method: "GET", url: "/docs/" });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });
});

describe("logging", () => {
  it("never logs embed or setup tokens from URLs", () => {
    assert.equal(redactUrl("/embed/inbox_abc123?mode=dark"), "/embed/[redacted]?mode=dark");
    assert.equal(redactUrl("/setup/tok_1/done"), "/setup/[redacted]/done");
    // The inbox API keeps its path; its WebSocket's token query is masked.
    assert.equal(redactUrl("/embed/api/ws?token=inbox_abc"), "/embed/api/ws?token=%5Bredacted%5D");
    assert.equal(redactUrl("/embed/apis_token"), "/embed/[redacted]");
    assert.equal(redactUrl("/x?hub.verify_token=s3cret&a=1"), "/x?hub.verify_token=%5Bredacted%5D&a=1");
    assert.equal(redactUrl("/platform/v1/inbox_embeds?page=2"), "/platform/v1/inbox_embeds?page=2");
  });
});
