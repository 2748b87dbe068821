import type { Queryable } from "../db/database.ts";
import type { ParleyEvent } from "../events/publish.ts";
import {
  type ContactIdentity,
  type ContactRow,
  findOrCreateContactByBsuid,
  findOrCreateContactByWaId,
  lockContactByBsuid,
  updateContactIdentity,
} from "../modules/contacts/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";

export const IDENTITY_CHANGED = "whatsapp.contact.identity_changed";

/**
 * The contact an inbound webhook speaks of, created when new, with the identity Meta sent
 * stored. Meta's business-scoped user id (BSUID) is matched first, then `formerBsuid` (the
 * BSUID a `user_changed_user_id` notice replaces), then the phone number; a person known only
 * by BSUID (a username user whose number Meta withholds) becomes a contact without `wa_id`.
 *
 * When a known contact's BSUID or parent BSUID changes — learnt for the first time or replaced
 * by Meta — the result carries `whatsapp.contact.identity_changed` for the number's webhooks. A
 * webhook that omits them changes nothing (absent is not removed).
 */
export async function resolveInboundContact(
  tx: Queryable,
  number: PhoneNumberRow,
  identity: ContactIdentity,
  formerBsuid?: string,
): Promise<{ contact: ContactRow; events: ParleyEvent[] } | undefined> {
  const projectId = number.project_id;
  let found: (ContactRow & { inserted?: boolean }) | undefined;
  for (const bsuid of [identity.bsuid, formerBsuid]) {
    if (!found && bsuid) found = await lockContactByBsuid(tx, projectId, bsuid);
  }
  if (!found && identity.waId) found = await findOrCreateContactByWaId(tx, projectId, identity.waId);
  if (!found && identity.bsuid) found = await findOrCreateContactByBsuid(tx, projectId, identity.bsuid);
  if (!found) return undefined;
  const contact = await updateContactIdentity(tx, found, identity);
  // A person seen for the first time has no earlier identity to change from.
  if (found.inserted) return { contact, events: [] };
  const previous = {
    business_scoped_user_id: found.business_scoped_user_id,
    parent_business_scoped_user_id: found.parent_business_scoped_user_id,
  };
  const changed =
    contact.business_scoped_user_id !== previous.business_scoped_user_id ||
    contact.parent_business_scoped_user_id !== previous.parent_business_scoped_user_id;
  if (!changed) return { contact, events: [] };
  return {
    contact,
    events: [
      {
        type: IDENTITY_CHANGED,
        projectId,
        phoneNumberRef: number.id,
        payload: {
          contact: {
            id: contact.id,
            customer_id: contact.customer_id,
            wa_id: contact.wa_id,
            profile_name: contact.profile_name,
            display_name: contact.display_name,
            business_scoped_user_id: contact.business_scoped_user_id,
            parent_business_scoped_user_id: contact.parent_business_scoped_user_id,
            username: contact.username,
            created_at: contact.created_at,
            updated_at: contact.updated_at,
            sandbox: number.kind === "sandbox",
            metadata: contact.metadata,
          },
          previous,
          phone_number_id: number.phone_number_id,
        },
      },
    ],
  };
}
