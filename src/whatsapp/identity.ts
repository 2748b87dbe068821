import type { Queryable } from "../db/database.ts";
import type { ParleyEvent } from "../events/publish.ts";
import {
  type ContactIdentity,
  type ContactRow,
  findOrCreateContactByBsuid,
  findOrCreateContactByWaId,
  lockContactByBsuid,
  lockContactByParentBsuid,
  lockContactByWaId,
  updateContactIdentity,
} from "../modules/contacts/store.ts";
import type { PhoneNumberRow } from "../modules/phone-numbers/store.ts";

export const IDENTITY_CHANGED = "whatsapp.contact.identity_changed";

/** What a Meta system notice says the person was known by before the identity it reports. */
export interface IdentityChange {
  /** Former BSUIDs, the most reliable first. */
  formerBsuids: string[];
  formerParentBsuid?: string;
  /** `identity.waId` is the person's new number (`user_changed_number`), replacing the stored one. */
  newWaId: boolean;
  /** The number it replaces (the notice's sender). */
  formerWaId?: string;
}

/**
 * The contact an inbound webhook speaks of, created when new, with the identity Meta sent
 * stored. Meta's business-scoped user id (BSUID) is matched first, then what a system notice
 * names as replaced (`change`: former BSUIDs, former parent BSUID, former number), then the
 * phone number; a person known only by BSUID (a username user whose number Meta withholds)
 * becomes a contact without `wa_id`.
 *
 * A number change moves the new number onto the contact found, unless another contact of the
 * project holds it: then the contact keeps its number (`numberTakenBy` names the holder) —
 * contacts are never merged behind the API's back. Either way the conversations stay with the
 * contact row, so its history is not split.
 *
 * When a known contact's BSUID or parent BSUID changes — learnt for the first time or replaced
 * by Meta — or its number is replaced, the result carries `whatsapp.contact.identity_changed`
 * for the number's webhooks (`previous.wa_id` only when the number changed). A webhook that
 * omits them changes nothing (absent is not removed).
 */
export async function resolveInboundContact(
  tx: Queryable,
  number: PhoneNumberRow,
  identity: ContactIdentity,
  change?: IdentityChange,
): Promise<{ contact: ContactRow; events: ParleyEvent[]; numberTakenBy?: string } | undefined> {
  const projectId = number.project_id;
  let found: (ContactRow & { inserted?: boolean }) | undefined;
  for (const bsuid of [identity.bsuid, ...(change?.formerBsuids ?? [])]) {
    if (!found && bsuid) found = await lockContactByBsuid(tx, projectId, bsuid);
  }
  if (!found && change?.formerParentBsuid)
    found = await lockContactByParentBsuid(tx, projectId, change.formerParentBsuid);
  if (!found && change?.formerWaId) found = await lockContactByWaId(tx, projectId, change.formerWaId);
  if (!found && identity.waId) found = await findOrCreateContactByWaId(tx, projectId, identity.waId);
  if (!found && identity.bsuid) found = await findOrCreateContactByBsuid(tx, projectId, identity.bsuid);
  if (!found) return undefined;
  return settleInboundIdentity(tx, number, found, identity, change);
}

/**
 * Whether a sender can be found by number alone, with no BSUID to match first and no system
 * notice naming a former identity: then `findOrCreateContactsByWaId` finds it (for several
 * senders at once) and `settleInboundIdentity` does the rest of `resolveInboundContact`.
 */
export function foundByNumberAlone(identity: ContactIdentity, change?: IdentityChange): boolean {
  return !change && !identity.bsuid && identity.waId !== undefined;
}

/**
 * The second half of `resolveInboundContact`, for the contact `found` for the sender (flagged
 * `inserted` when it was just created): stores the identity Meta sent and answers the events.
 */
export async function settleInboundIdentity(
  tx: Queryable,
  number: PhoneNumberRow,
  found: ContactRow & { inserted?: boolean },
  identity: ContactIdentity,
  change?: IdentityChange,
): Promise<{ contact: ContactRow; events: ParleyEvent[]; numberTakenBy?: string }> {
  const projectId = number.project_id;
  let numberTakenBy: string | undefined;
  if (change?.newWaId && identity.waId && found.wa_id !== identity.waId)
    numberTakenBy = (await lockContactByWaId(tx, projectId, identity.waId))?.id;
  const contact = await updateContactIdentity(tx, found, identity, change?.newWaId && !numberTakenBy);
  // A person seen for the first time has no earlier identity to change from.
  if (found.inserted) return { contact, events: [], numberTakenBy };
  // Filling in a number Meta withheld so far is not a change of identity.
  const numberChanged = found.wa_id !== null && contact.wa_id !== found.wa_id;
  const previous = {
    business_scoped_user_id: found.business_scoped_user_id,
    parent_business_scoped_user_id: found.parent_business_scoped_user_id,
    ...(numberChanged ? { wa_id: found.wa_id } : {}),
  };
  const changed =
    numberChanged ||
    contact.business_scoped_user_id !== previous.business_scoped_user_id ||
    contact.parent_business_scoped_user_id !== previous.parent_business_scoped_user_id;
  if (!changed) return { contact, events: [], numberTakenBy };
  return {
    contact,
    numberTakenBy,
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
