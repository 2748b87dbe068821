import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metaError, unknownObjectError } from "./meta-errors.ts";

describe("metaError", () => {
  it("builds Meta's error body with code, type, details and a trace id", () => {
    const { status, body } = metaError("reEngagement", "Re-engagement message", "outside the window");
    assert.equal(status, 400);
    assert.equal(body.error.code, 131047);
    assert.equal(body.error.type, "OAuthException");
    assert.deepEqual(body.error.error_data, { messaging_product: "whatsapp", details: "outside the window" });
    assert.match(body.error.fbtrace_id ?? "", /^[\w-]{12}$/);
  });

  it("answers an unknown object with Meta's code 100 and subcode 33", () => {
    const { status, body } = unknownObjectError("123");
    assert.equal(status, 400);
    assert.equal(body.error.code, 100);
    assert.equal(body.error.error_subcode, 33);
    assert.match(body.error.message, /'123' does not exist/);
  });
});
