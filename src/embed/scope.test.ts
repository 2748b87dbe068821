import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type EmbedScope, inScope, type ScopeFacts, scopeFilters } from "./scope.ts";

const PROJECT = "00000000-0000-4000-8000-000000000001";
const CUSTOMER = "00000000-0000-4000-8000-0000000000c1";
const USER = "00000000-0000-4000-8000-0000000000a1";

const embed = (overrides: Partial<EmbedScope>): EmbedScope => ({
  project_id: PROJECT,
  scope_type: "project",
  scope_id: null,
  assigned_user_id: null,
  ...overrides,
});

const facts = (overrides: Partial<ScopeFacts> = {}): ScopeFacts => ({
  project_id: PROJECT,
  phone_number_id: "111",
  customer_id: CUSTOMER,
  assignee_ids: [],
  ...overrides,
});

describe("the embed scope", () => {
  it("lets a project embed see every conversation of its project, and no other", () => {
    assert.equal(inScope(embed({}), facts()), true);
    assert.equal(inScope(embed({}), facts({ project_id: "00000000-0000-4000-8000-000000000002" })), false);
    assert.deepEqual(scopeFilters(embed({})), {});
  });

  it("limits a customer embed to that customer's numbers", () => {
    const e = embed({ scope_type: "customer", scope_id: CUSTOMER });
    assert.equal(inScope(e, facts()), true);
    assert.equal(inScope(e, facts({ customer_id: null })), false);
    assert.deepEqual(scopeFilters(e), { customerId: CUSTOMER });
  });

  it("limits a phone_number embed to that number (Meta's id)", () => {
    const e = embed({ scope_type: "phone_number", scope_id: "111" });
    assert.equal(inScope(e, facts()), true);
    assert.equal(inScope(e, facts({ phone_number_id: "222" })), false);
    assert.deepEqual(scopeFilters(e), { phoneNumberId: "111" });
  });

  it("narrows any scope to conversations actively assigned to assigned_user_id", () => {
    const e = embed({ scope_type: "phone_number", scope_id: "111", assigned_user_id: USER });
    assert.equal(inScope(e, facts()), false);
    assert.equal(inScope(e, facts({ assignee_ids: [USER] })), true);
    assert.equal(inScope(e, facts({ assignee_ids: [USER], phone_number_id: "222" })), false);
    assert.deepEqual(scopeFilters(e), { phoneNumberId: "111", assignedUserId: USER });
  });
});
