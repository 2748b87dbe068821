import { type Static, Type } from "typebox";
import { Nullable, NullableTimestamp, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

export const SETUP_LINK_STATUSES = ["active", "used", "expired", "revoked"] as const;
export const CONNECTION_TYPES = ["coexistence", "dedicated"] as const;
export const BILLING_MODES = ["customer_managed", "partner_managed"] as const;
export const SETUP_LANGUAGES = ["en", "es", "pt", "hi", "id", "ar"] as const;
export const THEME_KEYS = [
  "primary_color",
  "primary_foreground_color",
  "background_color",
  "text_color",
  "muted_text_color",
  "card_color",
  "muted_color",
  "border_color",
  "secondary_color",
  "secondary_foreground_color",
  "destructive_color",
  "destructive_foreground_color",
] as const;

const Color = Type.String({ pattern: "^#[0-9A-Fa-f]{6}$" });
const ThemeConfig = Nullable(
  Type.Object(Object.fromEntries(THEME_KEYS.map((k) => [k, Type.Optional(Color)])), {
    additionalProperties: false,
  }),
);
const Url = Nullable(Type.String({ format: "uri", maxLength: 2048 }));
const Origins = Type.Array(Type.String({ format: "uri", maxLength: 255 }), { maxItems: 50 });
const ConnectionTypes = Type.Array(Type.Enum(CONNECTION_TYPES), { minItems: 1, maxItems: 2 });
const CountryIsos = Type.Array(Type.String({ pattern: "^[A-Z]{2}$" }), { maxItems: 50 });
const Language = Nullable(Type.Enum(SETUP_LANGUAGES));

/** The `SetupLink` schema of the Kapso Platform API (no token). */
export const SetupLink = Type.Object({
  id: Uuid,
  status: Type.Enum(SETUP_LINK_STATUSES),
  created_at: Timestamp,
  expires_at: NullableTimestamp,
  url: Type.String({ format: "uri" }),
  success_redirect_url: Nullable(Type.String()),
  failure_redirect_url: Nullable(Type.String()),
  allowed_origins: Type.Array(Type.String()),
  allowed_connection_types: Type.Array(Type.Enum(CONNECTION_TYPES)),
  meta_billing_mode: Type.Enum(BILLING_MODES),
  theme_config: Nullable(Type.Record(Type.String(), Type.String())),
  provision_phone_number: Nullable(Type.Boolean()),
  phone_number_area_code: Nullable(Type.String()),
  phone_number_country_isos: Type.Array(Type.String()),
  reconnect_phone_number: Nullable(Type.String()),
  language: Nullable(Type.String()),
  whatsapp_setup_status: Type.Enum(["pending", "processing", "completed", "failed"]),
  whatsapp_setup_error: Nullable(Type.String()),
  provisioned_phone_number: Nullable(Type.Record(Type.String(), Type.Unknown())),
});

export const SetupLinkCreated = Type.Object({ ...SetupLink.properties, token: Type.String() });

export const CustomerParams = Type.Object({ customer_id: Uuid });
export const SetupLinkParams = Type.Object({ customer_id: Uuid, setup_link_id: Uuid });

export const ListSetupLinksQuery = Type.Object({
  status: Type.Optional(Type.Enum(SETUP_LINK_STATUSES)),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  ...OffsetQuery,
});

const Common = {
  success_redirect_url: Type.Optional(Url),
  failure_redirect_url: Type.Optional(Url),
  allowed_origins: Type.Optional(Origins),
  provision_phone_number: Type.Optional(Type.Boolean()),
  phone_number_area_code: Type.Optional(Nullable(Type.String({ pattern: "^\\d{3}$" }))),
  allowed_connection_types: Type.Optional(ConnectionTypes),
  theme_config: Type.Optional(ThemeConfig),
  phone_number_country_isos: Type.Optional(CountryIsos),
  language: Type.Optional(Language),
};

export const CreateSetupLinkBody = Type.Object({
  setup_link: Type.Object({
    ...Common,
    meta_billing_mode: Type.Optional(Type.Enum(BILLING_MODES)),
    reconnect_phone_number: Type.Optional(Nullable(Type.String({ maxLength: 32 }))),
  }),
});

export const UpdateSetupLinkBody = Type.Object({
  setup_link: Type.Object({
    ...Common,
    expires_at: Type.Optional(NullableTimestamp),
    status: Type.Optional(Type.Enum(SETUP_LINK_STATUSES)),
    meta_billing_mode: Type.Optional(Type.Unknown()),
    reconnect_phone_number: Type.Optional(Type.Unknown()),
  }),
});

export type ListSetupLinksFilters = Static<typeof ListSetupLinksQuery>;
export type CreateSetupLinkInput = Static<typeof CreateSetupLinkBody>["setup_link"];
export type UpdateSetupLinkInput = Static<typeof UpdateSetupLinkBody>["setup_link"];
