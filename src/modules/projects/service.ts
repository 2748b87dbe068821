import type { Database, Queryable } from "../../db/database.ts";
import { batchedLookup } from "../../db/group-commit.ts";
import { isUuid } from "../../lib/ids.ts";
import { digestsEqual, hashSecret, newSecret } from "../../security/secrets.ts";
import * as store from "./store.ts";

/** Characters of a key kept in the clear, to look it up and to recognise it in lists. */
const KEY_PREFIX_LENGTH = 12;

export class ProjectNotFoundError extends Error {
  constructor(id: string) {
    super(`Project ${id} not found`);
    this.name = "ProjectNotFoundError";
  }
}

export interface ApiKeyInfo {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The raw key: shown once, never stored. */
  api_key: string;
}

function keyInfo(row: store.ApiKeyRow): ApiKeyInfo {
  const { key_hash: _hash, ...info } = row;
  return info;
}

export async function requireProject(db: Queryable, projectId: string): Promise<store.ProjectRow> {
  const project = isUuid(projectId) ? await store.findProject(db, projectId) : undefined;
  if (!project) throw new ProjectNotFoundError(projectId);
  return project;
}

async function insertKey(db: Queryable, projectId: string, name: string): Promise<CreatedApiKey> {
  const apiKey = newSecret("prk");
  const row = await store.insertApiKey(db, {
    projectId,
    name,
    prefix: apiKey.slice(0, KEY_PREFIX_LENGTH),
    keyHash: hashSecret(apiKey),
  });
  return { ...keyInfo(row), api_key: apiKey };
}

export async function createProject(db: Database, name: string) {
  return db.transaction(async (tx) => {
    const project = await store.insertProject(tx, name);
    const key = await insertKey(tx, project.id, "Default key");
    return { project, key };
  });
}

export const listProjects = (db: Queryable) => store.listProjects(db);

export async function createApiKey(db: Queryable, projectId: string, name: string): Promise<CreatedApiKey> {
  await requireProject(db, projectId);
  return insertKey(db, projectId, name);
}

export async function listApiKeys(db: Queryable, projectId: string): Promise<ApiKeyInfo[]> {
  await requireProject(db, projectId);
  return (await store.listApiKeys(db, projectId)).map(keyInfo);
}

export async function revokeApiKey(
  db: Queryable,
  projectId: string,
  keyId: string,
): Promise<ApiKeyInfo | undefined> {
  await requireProject(db, projectId);
  if (!isUuid(keyId)) return undefined;
  const row = await store.revokeApiKey(db, projectId, keyId);
  return row && keyInfo(row);
}

export interface AuthenticatedKey {
  projectId: string;
  keyId: string;
  keyName: string;
}

/** Active keys by prefix; requests arriving together are looked up with one statement. */
const lookUpKeys = batchedLookup<string, store.ApiKeyRow[]>(async (db, prefixes) =>
  Map.groupBy(await store.findActiveApiKeysByPrefixes(db, prefixes), (row) => row.prefix),
);

/** Finds the active key matching `rawKey`, comparing hashes in constant time, and records its use. */
export async function authenticateApiKey(
  db: Database,
  rawKey: string,
): Promise<AuthenticatedKey | undefined> {
  if (rawKey.length < KEY_PREFIX_LENGTH || rawKey.length > 200) return undefined;
  const candidates = (await lookUpKeys(db, rawKey.slice(0, KEY_PREFIX_LENGTH))) ?? [];
  const digest = hashSecret(rawKey);
  const match = candidates.find((row) => digestsEqual(row.key_hash, digest));
  if (!match) return undefined;
  await store.touchApiKey(db, match.id);
  return { projectId: match.project_id, keyId: match.id, keyName: match.name };
}

/**
 * On a brand-new database, creates the default project and its first key so a newcomer can
 * call the API at once. Returns them, or undefined when projects already exist.
 */
export async function ensureDefaultProject(db: Database) {
  if ((await store.countProjects(db)) > 0) return undefined;
  return createProject(db, "Default project");
}
