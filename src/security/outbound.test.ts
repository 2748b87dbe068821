import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkOutboundUrl, guardedLookup, OutboundRefusedError } from "./outbound.ts";

describe("checkOutboundUrl", () => {
  it("refuses other schemes and private, loopback, link-local and metadata addresses", async () => {
    for (const url of [
      "ftp://example.com/x",
      "file:///etc/passwd",
      "http://127.0.0.1:8080/",
      "http://localhost/",
      "http://10.1.2.3/",
      "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]/",
      "http://[fe80::1]/",
      "http://0.0.0.0/",
      "http://[::ffff:127.0.0.1]/",
    ]) {
      await assert.rejects(checkOutboundUrl(url, []), /only http|private or reserved|does not resolve/, url);
    }
  });

  it("allows public addresses, and allowlisted hosts for local development", async () => {
    assert.equal((await checkOutboundUrl("https://93.184.215.14/hook", [])).hostname, "93.184.215.14");
    assert.equal((await checkOutboundUrl("http://127.0.0.1:9/hook", ["127.0.0.1"])).port, "9");
    assert.equal((await checkOutboundUrl("http://localhost:9/hook", ["localhost"])).hostname, "localhost");
    assert.equal((await checkOutboundUrl("http://10.1.2.3/hook", ["10.0.0.0/8"])).hostname, "10.1.2.3");
    await assert.rejects(checkOutboundUrl("http://10.1.2.3/hook", ["10.0.0.0/16"]), /private or reserved/);
  });
});

describe("guardedLookup", () => {
  const resolve = (allowlist: string[], host: string, all: boolean) =>
    new Promise<unknown>((ok, fail) =>
      guardedLookup(allowlist)(host, { all }, (err, address) => (err ? fail(err) : ok(address))),
    );

  it("refuses a host whose addresses, resolved for the connection itself, are private", async () => {
    for (const all of [false, true]) {
      await assert.rejects(resolve([], "localhost", all), (err: unknown) => {
        assert.ok(err instanceof OutboundRefusedError);
        assert.equal(err.reason, "private");
        return true;
      });
    }
  });

  it("answers allowlisted hosts and addresses in the shape node:net asks for", async () => {
    assert.match(String(await resolve(["localhost"], "localhost", false)), /^(127\.0\.0\.1|::1)$/);
    const all = (await resolve(["127.0.0.1", "::1"], "localhost", true)) as { address: string }[];
    assert.ok(Array.isArray(all) && all.length > 0);
  });
});
