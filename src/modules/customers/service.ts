import type { AppContext } from "../../context.ts";
import { publishEvents } from "../../events/publish.ts";
import { conflict, invalid, notFound } from "../../http/errors.ts";
import { type OffsetParams, offsetPage } from "../../http/pagination.ts";
import { cancelOpenRequests } from "../display-names/store.ts";
import { numberEvent } from "../phone-numbers/service.ts";
import { clearHealthState } from "../phone-numbers/store.ts";
import type { CreateCustomerInput, ListCustomersFilters, UpdateCustomerInput } from "./schemas.ts";
import * as store from "./store.ts";

export type Customer = Omit<store.CustomerRow, "project_id">;

function present(row: store.CustomerRow): Customer {
  const { project_id: _project, ...customer } = row;
  return customer;
}

const externalIdTaken = (id: string) =>
  conflict(`external_customer_id ${JSON.stringify(id)} is already used by another customer`);

/** Blank strings are refused rather than stored as names nobody can see. */
function checkName(name: string | undefined): void {
  if (name !== undefined && name.trim() === "") throw invalid("customer.name", "must not be blank");
}

export async function listCustomers(
  ctx: AppContext,
  projectId: string,
  filters: ListCustomersFilters,
  page: OffsetParams,
) {
  const { rows, total } = await store.listCustomers(
    ctx.db,
    projectId,
    {
      nameContains: filters.name_contains,
      externalCustomerId: filters.external_customer_id,
      createdAfter: filters.created_after,
      createdBefore: filters.created_before,
    },
    page,
  );
  return offsetPage(rows.map(present), total, page);
}

export async function getCustomer(ctx: AppContext, projectId: string, id: string): Promise<Customer> {
  const row = await store.findCustomer(ctx.db, projectId, id);
  if (!row) throw notFound("Customer");
  return present(row);
}

export async function createCustomer(
  ctx: AppContext,
  projectId: string,
  input: CreateCustomerInput,
): Promise<Customer> {
  checkName(input.name);
  const externalCustomerId = input.external_customer_id ?? null;
  const row = await store.insertCustomer(ctx.db, projectId, { name: input.name.trim(), externalCustomerId });
  if (!row) throw externalIdTaken(externalCustomerId!);
  return present(row);
}

export async function updateCustomer(
  ctx: AppContext,
  projectId: string,
  id: string,
  input: UpdateCustomerInput,
): Promise<Customer> {
  checkName(input.name);
  return ctx.db.transaction(async (tx) => {
    if (input.external_customer_id) {
      const holder = await store.findCustomerByExternalId(tx, projectId, input.external_customer_id);
      if (holder && holder.id !== id) throw externalIdTaken(input.external_customer_id);
    }
    const row = await store.updateCustomer(tx, projectId, id, {
      name: input.name?.trim(),
      external_customer_id: input.external_customer_id,
    });
    if (!row) throw notFound("Customer");
    return present(row);
  });
}

/** Deletes the customer; see `store.deleteCustomer` for what goes with it. */
export async function deleteCustomer(ctx: AppContext, projectId: string, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const numbers = await store.deleteCustomer(tx, projectId, id);
    if (!numbers) throw notFound("Customer");
    for (const number of numbers) await clearHealthState(tx, number.id);
    await cancelOpenRequests(
      tx,
      numbers.map((n) => n.id),
    );
    await publishEvents(
      tx,
      numbers.map((n) => numberEvent("whatsapp.phone_number.deleted", n)),
    );
  });
}
