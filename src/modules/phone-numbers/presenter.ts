import type { PhoneNumberRow } from "./store.ts";

/** The `WhatsappPhoneNumber` of the Kapso Platform API (secrets are never part of it). */
export interface WhatsappPhoneNumber {
  id: string;
  internal_id: string;
  phone_number_id: string;
  name: string;
  business_account_id: string | null;
  is_coexistence: boolean | null;
  inbound_processing_enabled: boolean;
  calls_enabled: boolean;
  webhook_verified_at: string | null;
  created_at: string;
  updated_at: string;
  customer_id: string | null;
  display_name: string | null;
  display_phone_number: string | null;
  display_phone_number_normalized: string | null;
  verified_name: string | null;
  quality_rating: string | null;
  code_verification_status: string | null;
  name_status: string | null;
  status: string | null;
  throughput_tier: string | null;
  whatsapp_business_manager_messaging_limit: string | null;
  is_official_business_account: boolean | null;
  is_pin_enabled: boolean | null;
  kind: "production" | "sandbox";
}

export function presentPhoneNumber(row: PhoneNumberRow): WhatsappPhoneNumber {
  return {
    id: row.phone_number_id,
    internal_id: row.id,
    phone_number_id: row.phone_number_id,
    name: row.name,
    business_account_id: row.business_account_id,
    is_coexistence: row.is_coexistence,
    inbound_processing_enabled: row.inbound_processing_enabled,
    calls_enabled: row.calls_enabled,
    webhook_verified_at: row.webhook_verified_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
    customer_id: row.customer_id,
    display_name: row.display_name,
    display_phone_number: row.display_phone_number,
    display_phone_number_normalized: row.display_phone_number_normalized,
    verified_name: row.verified_name,
    quality_rating: row.quality_rating,
    code_verification_status: row.code_verification_status,
    name_status: row.name_status,
    status: row.status,
    throughput_tier: row.throughput_tier,
    whatsapp_business_manager_messaging_limit: row.messaging_limit,
    is_official_business_account: row.is_official_business_account,
    is_pin_enabled: row.is_pin_enabled,
    kind: row.kind,
  };
}
