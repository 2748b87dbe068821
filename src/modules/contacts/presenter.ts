import type { ContactRow } from "./store.ts";

/** The API's `WhatsappContact`. */
export function presentContact(row: ContactRow) {
  return {
    id: row.id,
    wa_id: row.wa_id,
    business_scoped_user_id: row.business_scoped_user_id,
    parent_business_scoped_user_id: row.parent_business_scoped_user_id,
    username: row.username,
    profile_name: row.profile_name,
    display_name: row.display_name,
    customer_id: row.customer_id,
    metadata: row.metadata,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export type WhatsappContact = ReturnType<typeof presentContact>;
