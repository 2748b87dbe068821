import { type Static, Type } from "typebox";
import { Nullable, NullableTimestamp, OffsetQuery, Timestamp, Uuid } from "../../http/schemas.ts";

export const SCOPE_TYPES = ["project", "customer", "phone_number"] as const;
export const EMBED_STATUSES = ["active", "revoked"] as const;
export const DISPLAY_MODES = ["system", "light", "dark"] as const;
export const EMBED_LANGUAGES = ["en", "es"] as const;

export type ScopeType = (typeof SCOPE_TYPES)[number];
export type DisplayMode = (typeof DISPLAY_MODES)[number];
export type EmbedLanguage = (typeof EMBED_LANGUAGES)[number];

const ScopeType = Type.Enum(SCOPE_TYPES, { description: "Public embed scope" });
const Mode = Type.Enum(DISPLAY_MODES);
const Language = Type.Enum(EMBED_LANGUAGES, { description: "UI language of the embedded inbox" });
const Name = Nullable(Type.String({ maxLength: 255 }));
const AllowedOrigins = Type.Array(Type.String({ maxLength: 255 }), {
  maxItems: 100,
  description: "Origins allowed to embed the inbox. Empty means any origin.",
  examples: [["https://app.example.com", "https://*.example.com"]],
});

/** The `InboxEmbed` schema of the Kapso Platform API (no secrets). */
export const InboxEmbed = Type.Object({
  id: Uuid,
  name: Nullable(Type.String()),
  scope_type: ScopeType,
  scope_id: Nullable(
    Type.String({ description: "Customer UUID, Meta phone_number_id, or null for project" }),
  ),
  scope_name: Nullable(Type.String({ description: "Human-readable customer or phone number label" })),
  assigned_user_id: Nullable(Uuid),
  assigned_user_name: Nullable(Type.String()),
  status: Type.Enum(EMBED_STATUSES),
  allowed_origins: Type.Array(Type.String()),
  default_mode: Mode,
  language: Language,
  expires_at: NullableTimestamp,
  last_used_at: NullableTimestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const InboxEmbedCreated = Type.Object({
  ...InboxEmbed.properties,
  token: Type.String({ description: "Raw inbox token. Returned only when the embed is created." }),
  embed_url: Type.String({
    format: "uri",
    description: "Iframe URL. Returned only when the embed is created.",
  }),
});

export const InboxEmbedParams = Type.Object({ inbox_embed_id: Uuid });

export const ListInboxEmbedsQuery = Type.Object({
  status: Type.Optional(Type.Enum(EMBED_STATUSES)),
  scope_type: Type.Optional(ScopeType),
  scope_id: Type.Optional(Type.String()),
  assigned_user_id: Type.Optional(Uuid),
  ...OffsetQuery,
});

export const CreateInboxEmbedBody = Type.Object({
  inbox_embed: Type.Object({
    name: Type.Optional(Name),
    scope_type: ScopeType,
    scope_id: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
    assigned_user_id: Type.Optional(Nullable(Uuid)),
    allowed_origins: Type.Optional(AllowedOrigins),
    default_mode: Type.Optional(Mode),
    language: Type.Optional(Language),
    expires_at: Type.Optional(NullableTimestamp),
  }),
});

export const UpdateInboxEmbedBody = Type.Object({
  inbox_embed: Type.Object({
    name: Type.Optional(Name),
    assigned_user_id: Type.Optional(Nullable(Uuid)),
    allowed_origins: Type.Optional(AllowedOrigins),
    default_mode: Type.Optional(Mode),
    language: Type.Optional(Language),
    expires_at: Type.Optional(NullableTimestamp),
    // Listed so that an attempt to change them is answered with a clear 422, not ignored.
    scope_type: Type.Optional(Type.Unknown({ description: "Cannot be changed" })),
    scope_id: Type.Optional(Type.Unknown({ description: "Cannot be changed" })),
    status: Type.Optional(Type.Unknown({ description: "Cannot be changed; revoke with DELETE" })),
  }),
});

export type CreateInboxEmbedInput = Static<typeof CreateInboxEmbedBody>["inbox_embed"];
export type UpdateInboxEmbedInput = Static<typeof UpdateInboxEmbedBody>["inbox_embed"];
export type ListInboxEmbedsFilters = Static<typeof ListInboxEmbedsQuery>;
