import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { GraphApiError, GraphClient, type GraphTarget } from "./graph-client.ts";

// A stand-in for Meta on a real socket: each path answers from a script of responses.
const scripts = new Map<string, { status: number; body?: unknown; headers?: Record<string, string> }[]>();
const seen: {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
  headers: http.IncomingHttpHeaders;
}[] = [];
let server: http.Server;
let target: GraphTarget;
const lines: string[] = [];
const log = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
const client = new GraphClient({ log, baseDelayMs: 5, timeoutMs: 500 });

before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        auth: req.headers.authorization,
        body,
        headers: req.headers,
      });
      const path = req.url!.split("?")[0]!;
      const next = scripts.get(path)?.shift() ?? { status: 200, body: { ok: true } };
      if (next.status === -1) return; // never answer: a timeout
      res.writeHead(next.status, { "content-type": "application/json", ...next.headers });
      res.end(next.body === undefined ? "" : JSON.stringify(next.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  target = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    version: "v24.0",
    accessToken: "EAAB-very-secret",
  };
});
after(() => new Promise<void>((r) => server.close(() => r())));

const metaError = {
  message: "(#131047) Re-engagement message",
  type: "OAuthException",
  code: 131047,
  error_subcode: 2494010,
  fbtrace_id: "Axyz",
};

describe("GraphClient", () => {
  it("sends the version, token, query and JSON body, and returns Meta's JSON", async () => {
    scripts.set("/v24.0/123/messages", [{ status: 200, body: { messages: [{ id: "wamid.1" }] } }]);
    const result = await client.request(target, {
      method: "POST",
      path: "/123/messages",
      json: { to: "1" },
      query: { a: 1 },
    });
    assert.deepEqual(result, { messages: [{ id: "wamid.1" }] });
    const call = seen.at(-1)!;
    assert.equal(call.url, "/v24.0/123/messages?a=1");
    assert.equal(call.auth, "Bearer EAAB-very-secret");
    assert.deepEqual(JSON.parse(call.body), { to: "1" });
  });

  it("sends raw bytes with extra headers and Meta's OAuth scheme (resumable upload), and multipart forms", async () => {
    scripts.set("/v24.0/upload:abc", [{ status: 200, body: { h: "4::x" } }]);
    const result = await client.request(target, {
      method: "POST",
      path: "/upload:abc",
      bytes: new Blob([Buffer.from("bytes!")]),
      headers: { file_offset: "0" },
      authScheme: "OAuth",
    });
    assert.deepEqual(result, { h: "4::x" });
    let call = seen.at(-1)!;
    assert.equal(call.auth, "OAuth EAAB-very-secret");
    assert.equal(call.headers.file_offset, "0");
    assert.equal(call.headers["content-type"], "application/octet-stream");
    assert.equal(call.body, "bytes!");

    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("file", new Blob([Buffer.from("png")], { type: "image/png" }), "a.png");
    await client.request(target, { method: "POST", path: "/1/media", form });
    call = seen.at(-1)!;
    assert.equal(call.auth, "Bearer EAAB-very-secret");
    assert.match(String(call.headers["content-type"]), /^multipart\/form-data; boundary=/);
    assert.match(call.body, /name="file"; filename="a.png"\r\nContent-Type: image\/png\r\n\r\npng/);
  });

  it("preserves Meta's error object and does not retry a 4xx", async () => {
    scripts.set("/v24.0/4xx", [{ status: 400, body: { error: metaError } }]);
    const before = seen.length;
    await assert.rejects(client.request(target, { path: "/4xx" }), (err: unknown) => {
      assert.ok(err instanceof GraphApiError);
      assert.equal(err.status, 400);
      assert.deepEqual(err.error, metaError);
      return true;
    });
    assert.equal(seen.length - before, 1);
  });

  it("retries a GET on 5xx and 429, honouring Retry-After", async () => {
    scripts.set("/v24.0/flaky", [
      { status: 503, body: { error: { message: "down", type: "x", code: 2 } } },
      {
        status: 429,
        body: { error: { message: "slow", type: "x", code: 4 } },
        headers: { "retry-after": "0" },
      },
      { status: 200, body: { fine: true } },
    ]);
    assert.deepEqual(await client.request(target, { path: "/flaky" }), { fine: true });
  });

  it("never repeats a POST after a 5xx or a timeout (it might have been sent), but does after a 429", async () => {
    scripts.set("/v24.0/send-5xx", [
      { status: 500, body: { error: { message: "oops", type: "x", code: 1 } } },
      { status: 200 },
    ]);
    let before = seen.length;
    await assert.rejects(
      client.request(target, { method: "POST", path: "/send-5xx", json: {} }),
      GraphApiError,
    );
    assert.equal(seen.length - before, 1);

    scripts.set("/v24.0/send-timeout", [{ status: -1 }, { status: 200 }]);
    before = seen.length;
    await assert.rejects(
      client.request(target, { method: "POST", path: "/send-timeout", json: {} }),
      (err: unknown) => {
        return err instanceof GraphApiError && err.status === 0 && /did not answer in time/.test(err.message);
      },
    );
    assert.equal(seen.length - before, 1);

    scripts.set("/v24.0/send-429", [
      { status: 429, body: { error: { message: "slow", type: "x", code: 130429 } } },
      { status: 200, body: { ok: 1 } },
    ]);
    assert.deepEqual(await client.request(target, { method: "POST", path: "/send-429", json: {} }), {
      ok: 1,
    });
  });

  it("reports an unreachable API as a transport error", async () => {
    const closed = { ...target, baseUrl: "http://127.0.0.1:1" };
    await assert.rejects(client.request(closed, { path: "/x" }), (err: unknown) => {
      return err instanceof GraphApiError && err.status === 0 && err.error.type === "ParleyTransportError";
    });
  });

  it("never logs the access token", () => {
    assert.ok(lines.length > 0);
    assert.ok(!lines.join("").includes("EAAB-very-secret"));
  });
});
