import { type ProvisionedDatabase, provisionDatabase } from "./database.ts";
import { parley, type ServerProcess, startServer, tempDir } from "./process.ts";

/** A Parley server process on the test engine, with a project, its API key and a sandbox number. */
export interface ServerProject {
  server: ServerProcess;
  env: Record<string, string>;
  apiKey: string;
  phoneNumberId: string;
  /** A Platform API call as the project. */
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
  /** Starts the server again on the same database (after `server.kill()` or `server.stop()`). */
  restart(): Promise<ServerProcess>;
  close(): Promise<void>;
}

export async function startServerProject(extraEnv: Record<string, string> = {}): Promise<ServerProject> {
  const db: ProvisionedDatabase = await provisionDatabase();
  const env: Record<string, string> = {
    PARLEY_DATA_DIR: tempDir(),
    PARLEY_SANDBOX: "true",
    ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
    ...extraEnv,
  };
  // Generous: a loaded CI machine can take a while to start a process.
  let server = await startServer(env, 180_000);
  env.PORT = String(server.port);
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/platform/v1${path}`, {
      method,
      headers: { "x-api-key": apiKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
  };

  let apiKey: string;
  let phoneNumberId: string;
  const printed = /\n {2}(prk_\S+)\n/.exec(server.output());
  const sandbox = /\(phone_number_id (\d+)\)/.exec(server.output());
  if (printed && sandbox) {
    // Embedded first start: the default project, its key and a sandbox number were printed.
    apiKey = printed[1]!;
    phoneNumberId = sandbox[1]!;
  } else {
    const created = await parley(["projects", "create", "--name", "Test", "--json"], env);
    if (created.code !== 0) throw new Error(`projects create failed: ${created.stderr}`);
    apiKey = (JSON.parse(created.stdout) as { api_key: string }).api_key;
    const customer = await api<{ data: { id: string } }>("POST", "/customers", {
      customer: { name: "Test customer", external_customer_id: "test" },
    });
    const number = await api<{ data: { phone_number_id: string } }>(
      "POST",
      `/customers/${customer.body.data.id}/whatsapp/phone_numbers`,
      { whatsapp_phone_number: { name: "Sandbox", kind: "sandbox" } },
    );
    if (number.status !== 201) throw new Error(`sandbox number: ${JSON.stringify(number.body)}`);
    phoneNumberId = number.body.data.phone_number_id;
  }
  return {
    get server() {
      return server;
    },
    env,
    apiKey,
    phoneNumberId,
    api,
    async restart() {
      server = await startServer(env, 180_000);
      return server;
    },
    async close() {
      await server.stop();
      await db.drop();
    },
  };
}
