import { type Static, Type } from "typebox";
import { Nullable, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

/** The `Customer` schema of the Kapso Platform API. */
export const Customer = Type.Object({
  id: Uuid,
  name: Type.String(),
  external_customer_id: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const CustomerParams = Type.Object({ customer_id: Uuid });

export const ListCustomersQuery = Type.Object({
  name_contains: Type.Optional(Type.String({ maxLength: 255 })),
  external_customer_id: Type.Optional(Type.String({ maxLength: 255 })),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  ...OffsetQuery,
});

const Name = Type.String({ minLength: 1, maxLength: 255 });
const ExternalId = Nullable(Type.String({ minLength: 1, maxLength: 255 }));

export const CreateCustomerBody = Type.Object({
  customer: Type.Object({ name: Name, external_customer_id: Type.Optional(ExternalId) }),
});

export const UpdateCustomerBody = Type.Object({
  customer: Type.Object({ name: Type.Optional(Name), external_customer_id: Type.Optional(ExternalId) }),
});

export type ListCustomersFilters = Static<typeof ListCustomersQuery>;
export type CreateCustomerInput = Static<typeof CreateCustomerBody>["customer"];
export type UpdateCustomerInput = Static<typeof UpdateCustomerBody>["customer"];
