import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import sql from "sql-template-tag";
import { startTestApp, type TestApp, type TestProject } from "../../../test/support/app.ts";
import { insertSandboxNumber, metaId, PNG } from "../../../test/support/fixtures.ts";
import type { PhoneNumberRow } from "../phone-numbers/store.ts";
import { insertPhoneNumber } from "../phone-numbers/store.ts";

// Media ingest (`POST /platform/v1/whatsapp/media`) against a real file server on 127.0.0.1
// (allowed through PARLEY_OUTBOUND_ALLOWLIST, as for local development), uploading to the
// sandbox, for sandbox numbers and for a production number whose Graph URL is the sandbox.

const PDF = Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");
const MB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let t: TestApp;
let a: TestProject;
let b: TestProject;
let number: PhoneNumberRow;
let production: PhoneNumberRow;
let files: http.Server;
let origin: string;
/** What the file server sent on its streaming routes, to see that downloads stop early. */
const streamed = { bytes: 0, closedEarly: false };

before(async () => {
  t = await startTestApp({ listen: true, env: { PARLEY_OUTBOUND_ALLOWLIST: "127.0.0.1" } });
  t.ctx.config.meta.graphUrl = `${t.baseUrl}/sandbox/graph`;
  a = await t.createProject("A");
  b = await t.createProject("B");
  number = await insertSandboxNumber(t, a.projectId);
  production = await insertPhoneNumber(t.ctx.db, {
    project_id: a.projectId,
    kind: "production",
    phone_number_id: metaId(),
    business_account_id: metaId(),
    name: "Production line",
    access_token_encrypted: t.ctx.cipher.encrypt("sandbox-production-token"),
  });
  files = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://files");
    switch (url.pathname) {
      case "/images/dot.png":
        res.writeHead(200, { "content-type": "image/png", "content-length": PNG.length });
        return res.end(PNG);
      case "/download":
        // A generic type; the file name says what it is.
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-disposition": 'attachment; filename="Q3 report.pdf"',
        });
        return res.end(PDF);
      case "/setup.exe":
        res.writeHead(200, { "content-type": "application/x-msdownload" });
        return res.end("MZ");
      case "/notes.txt":
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        return res.end("hello");
      case "/empty.png":
        res.writeHead(200, { "content-type": "image/png", "content-length": 0 });
        return res.end();
      case "/declared-big.png":
        // Declares more than 5 MB: refused before any of it is read.
        res.writeHead(200, { "content-type": "image/png", "content-length": 6 * MB });
        res.on("close", () => {
          streamed.closedEarly = !res.writableFinished;
        });
        return res.write(Buffer.alloc(64 * 1024));
      case "/endless.png": {
        // Chunked, no length: the download must stop once 5 MB are crossed.
        res.writeHead(200, { "content-type": "image/png" });
        streamed.bytes = 0;
        streamed.closedEarly = false;
        const chunk = Buffer.alloc(256 * 1024, 1);
        const pump = () => {
          while (streamed.bytes < 50 * MB) {
            streamed.bytes += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        res.on("close", () => {
          streamed.closedEarly = !res.writableFinished;
        });
        return pump();
      }
      case "/redirect":
        res.writeHead(302, { location: url.searchParams.get("to")! });
        return res.end();
      case "/slow":
        return; // never answers
      default:
        res.writeHead(404, { "content-type": "text/plain" });
        return res.end("not here");
    }
  });
  await new Promise<void>((r) => files.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
after(async () => {
  files.closeAllConnections();
  await new Promise<void>((r) => files.close(() => r()));
  await t.close();
});

const ingest = (media_ingest: Record<string, unknown>, project = a) =>
  t.api(project, { method: "POST", url: "/platform/v1/whatsapp/media", payload: { media_ingest } });

async function expectError(media_ingest: Record<string, unknown>, status: number, error: string | RegExp) {
  const response = await ingest(media_ingest);
  assert.equal(response.statusCode, status, response.body);
  const body = response.json() as { error: string };
  if (typeof error === "string") assert.deepEqual(body, { error });
  else assert.match(body.error, error);
}

describe("POST /platform/v1/whatsapp/media", () => {
  it("fetches the source, hashes it and uploads it to the number's media endpoint", async () => {
    const source = `${origin}/images/dot.png`;
    const response = await ingest({ phone_number_id: number.phone_number_id, source });
    assert.equal(response.statusCode, 200, response.body);
    const { data } = response.json();
    assert.match(data.ingest_id, /^[0-9a-f-]{36}$/);
    assert.equal(data.target.kind, "meta_media");
    assert.match(data.target.media_id, /^\d+$/);
    assert.equal(data.target.handle, undefined);
    assert.deepEqual(data.resource, {
      filename: "dot.png",
      mime_type: "image/png",
      size_bytes: PNG.length,
      sha256: sha256(PNG),
      source_url: source,
    });
    const [stored] = await t.ctx.db.query<{ phone_number_id: string; mime_type: string; data: Uint8Array }>(
      sql`SELECT phone_number_id, mime_type, data FROM sandbox_media WHERE id = ${data.target.media_id}`,
    );
    assert.equal(stored!.phone_number_id, number.phone_number_id);
    assert.equal(stored!.mime_type, "image/png");
    assert.deepEqual(Buffer.from(stored!.data), PNG);
  });

  it("takes the type from the hint, the server or the file name, and the name from the hint or the server", async () => {
    const named = await ingest({ phone_number_id: number.phone_number_id, source: `${origin}/download` });
    assert.equal(named.statusCode, 200, named.body);
    assert.equal(named.json().data.resource.filename, "Q3 report.pdf");
    assert.equal(named.json().data.resource.mime_type, "application/pdf");
    const hinted = await ingest({
      phone_number_id: number.phone_number_id,
      source: `${origin}/download`,
      filename: "invoice.pdf",
      mime_type: "application/pdf",
    });
    assert.equal(hinted.json().data.resource.filename, "invoice.pdf");
    const text = await ingest({ phone_number_id: number.phone_number_id, source: `${origin}/notes.txt` });
    assert.equal(text.json().data.resource.mime_type, "text/plain", "parameters are dropped");
  });

  it("uploads through Meta's resumable upload API and answers the handle", async () => {
    const response = await ingest({
      phone_number_id: number.phone_number_id,
      source: `${origin}/images/dot.png`,
      delivery: "meta_resumable_asset",
    });
    assert.equal(response.statusCode, 200, response.body);
    const { data } = response.json();
    assert.equal(data.target.kind, "meta_resumable_asset");
    assert.match(data.target.handle, /^4::aW1hZ2UvcG5n:/);
    assert.equal(data.target.media_id, undefined);
    const [upload] = await t.ctx.db.query<{ file_name: string; data: Uint8Array }>(
      sql`SELECT file_name, data FROM sandbox_uploads WHERE handle = ${data.target.handle}`,
    );
    assert.equal(upload!.file_name, "dot.png");
    assert.deepEqual(Buffer.from(upload!.data), PNG);
    await expectError(
      {
        phone_number_id: number.phone_number_id,
        source: `${origin}/notes.txt`,
        delivery: "meta_resumable_asset",
      },
      400,
      /^Invalid MIME type: text\/plain not supported by Meta resumable uploads/,
    );
  });

  it("refuses types Meta does not take, before and after fetching", async () => {
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/setup.exe` },
      400,
      "Invalid MIME type: application/x-msdownload not supported by Meta",
    );
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/images/dot.png`, mime_type: "image/gif" },
      400,
      "Invalid MIME type: image/gif not supported by Meta",
    );
  });

  it("answers 413 for files over the type's limit, without downloading them", async () => {
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/declared-big.png` },
      413,
      "File size 6291456 bytes exceeds limit of 5242880 bytes for image/png",
    );
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/endless.png` },
      413,
      "File size exceeds limit of 5242880 bytes for image/png",
    );
    for (let i = 0; i < 50 && !streamed.closedEarly; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(streamed.closedEarly, "the download was cut off");
    assert.ok(streamed.bytes < 20 * MB, `stopped early (${streamed.bytes} bytes sent)`);
    // Documents may be larger than images.
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/endless.png`, mime_type: "video/mp4" },
      413,
      "File size exceeds limit of 16777216 bytes for video/mp4",
    );
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/empty.png` },
      422,
      "media_ingest.source is an empty file",
    );
  });

  it("refuses private, loopback, link-local and metadata addresses, also behind redirects", async () => {
    const allow = t.ctx.config.outboundAllowlist;
    t.ctx.config.outboundAllowlist = [];
    try {
      for (const source of [
        `${origin}/images/dot.png`,
        "http://localhost:9/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x.png",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
      ]) {
        await expectError(
          { phone_number_id: number.phone_number_id, source },
          403,
          "Cannot fetch from private IP addresses or localhost",
        );
      }
    } finally {
      t.ctx.config.outboundAllowlist = allow;
    }
    // The file server is allowed; where it redirects to is checked again.
    await expectError(
      {
        phone_number_id: number.phone_number_id,
        source: `${origin}/redirect?to=${encodeURIComponent("http://169.254.169.254/latest/meta-data")}`,
      },
      403,
      "Cannot fetch from private IP addresses or localhost",
    );
    const followed = await ingest({
      phone_number_id: number.phone_number_id,
      source: `${origin}/redirect?to=/images/dot.png`,
    });
    assert.equal(followed.statusCode, 200, followed.body);
    assert.equal(followed.json().data.resource.source_url, `${origin}/redirect?to=/images/dot.png`);
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/redirect?to=file:///etc/passwd` },
      422,
      /^media_ingest\.source could not be fetched: it redirects to a URL that is not http or https$/,
    );
  });

  it("answers the documented errors for bad input", async () => {
    for (const source of ["ftp://example.com/a.png", "not a url", "file:///etc/passwd", ""]) {
      await expectError(
        { phone_number_id: number.phone_number_id, source },
        400,
        "Source URL must be a valid HTTP or HTTPS URL",
      );
    }
    const notFound = "WhatsApp phone number not found or not accessible in this project";
    await expectError({ phone_number_id: "123456789", source: `${origin}/images/dot.png` }, 404, notFound);
    const foreign = await ingest(
      { phone_number_id: number.phone_number_id, source: `${origin}/images/dot.png` },
      b,
    );
    assert.equal(foreign.statusCode, 404);
    assert.deepEqual(foreign.json(), { error: notFound });
    await expectError(
      { source: `${origin}/images/dot.png` },
      422,
      "media_ingest.phone_number_id is required",
    );
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/images/dot.png`, delivery: "s3" },
      422,
      /^media_ingest\.delivery must be one of: meta_media, meta_resumable_asset$/,
    );
    await expectError(
      { phone_number_id: number.phone_number_id, source: `${origin}/missing.png` },
      422,
      "media_ingest.source could not be fetched: the server answered 404",
    );
    const missingBody = await t.api(a, { method: "POST", url: "/platform/v1/whatsapp/media", payload: {} });
    assert.equal(missingBody.statusCode, 422);
    const noKey = await t.request({ method: "POST", url: "/platform/v1/whatsapp/media", payload: {} });
    assert.equal(noKey.statusCode, 401);
  });

  it("gives up on a source that does not answer in time", async () => {
    const saved = t.ctx.config.mediaFetchTimeoutSeconds;
    t.ctx.config.mediaFetchTimeoutSeconds = 1;
    try {
      await expectError(
        { phone_number_id: number.phone_number_id, source: `${origin}/slow` },
        422,
        "media_ingest.source could not be fetched: the download took longer than 1 seconds",
      );
    } finally {
      t.ctx.config.mediaFetchTimeoutSeconds = saved;
    }
  });

  it("uploads for production numbers with their token, and maps Meta's failures to 502 and 429", async () => {
    const source = `${origin}/images/dot.png`;
    const ok = await ingest({ phone_number_id: production.phone_number_id, source });
    assert.equal(ok.statusCode, 200, ok.body);
    await expectError(
      { phone_number_id: production.phone_number_id, source, delivery: "meta_resumable_asset" },
      422,
      /META_APP_ID/,
    );
    t.ctx.config.meta.appId = "1234567890";
    try {
      const resumable = await ingest({
        phone_number_id: production.phone_number_id,
        source,
        delivery: "meta_resumable_asset",
      });
      assert.equal(resumable.statusCode, 200, resumable.body);
      const [upload] = await t.ctx.db.query<{ app_id: string }>(
        sql`SELECT app_id FROM sandbox_uploads WHERE handle = ${resumable.json().data.target.handle}`,
      );
      assert.equal(upload!.app_id, "1234567890");
    } finally {
      t.ctx.config.meta.appId = undefined;
    }

    const inject = (payload: Record<string, unknown>) =>
      t.api(a, {
        method: "POST",
        url: "/sandbox/failures",
        payload: { phone_number_id: production.phone_number_id, operation: "media", ...payload },
      });
    assert.equal(
      (await inject({ error: { code: 190, message: "Invalid OAuth access token" }, http_status: 401 }))
        .statusCode,
      201,
    );
    await expectError(
      { phone_number_id: production.phone_number_id, source },
      502,
      "Meta API error: Invalid OAuth access token",
    );
    // Parley's Graph client retries throttling itself (three times) before giving up.
    assert.equal((await inject({ error: { code: 4 }, remaining: 4 })).statusCode, 201);
    const throttled = await ingest({ phone_number_id: production.phone_number_id, source });
    assert.equal(throttled.statusCode, 429, throttled.body);
    assert.deepEqual(throttled.json(), { error: "Meta API rate limit exceeded. Retry after 60 seconds" });
    assert.equal(throttled.headers["retry-after"], "60");
  });
});
