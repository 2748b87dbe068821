import type { FastifyBaseLogger } from "fastify";
import type { PgBoss } from "pg-boss";
import type { Config } from "./config.ts";
import type { Database } from "./db/database.ts";
import type { Cipher } from "./security/encryption.ts";
import type { GraphClient } from "./whatsapp/graph-client.ts";

/** What every service function receives. */
export interface AppContext {
  config: Config;
  db: Database;
  jobs: PgBoss;
  log: FastifyBaseLogger;
  /** Encrypts secrets at rest (Meta access tokens). */
  cipher: Cipher;
  /** The one client for Meta's Graph API and the sandbox. */
  graph: GraphClient;
  /**
   * This process's own base URL (`http://127.0.0.1:<port>`), set once it listens. The sandbox
   * is reached through it, over real HTTP, exactly as Meta would be.
   */
  selfUrl: string;
}
