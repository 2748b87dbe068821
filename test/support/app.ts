import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { buildApp } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import type { AppContext } from "../../src/context.ts";
import type { Server } from "../../src/http/types.ts";
import { createLogger } from "../../src/logging.ts";
import { createProject } from "../../src/modules/projects/service.ts";
import { openRuntime } from "../../src/runtime.ts";
import { openTestDatabase } from "./database.ts";

export interface TestProject {
  projectId: string;
  apiKey: string;
}

export interface TestApp {
  app: Server;
  ctx: AppContext;
  config: Config;
  /** `http://127.0.0.1:<port>` when started with `listen: true`, else empty. */
  baseUrl: string;
  /** A request through the full HTTP stack (Fastify inject). */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** A request authenticated as `project`. */
  api(project: TestProject, options: InjectOptions): Promise<LightMyRequestResponse>;
  createProject(name?: string): Promise<TestProject>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Environment variables, as a deployment would set them. */
  env?: Record<string, string>;
  /**
   * Listen on a real loopback port (`baseUrl`). Needed wherever Parley calls itself over HTTP,
   * as its Graph client does with the sandbox.
   */
  listen?: boolean;
}

/** Starts the real application on a fresh database of the test engine. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const env = options.env ?? {};
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-test-"));
  const config = loadConfig({
    PARLEY_DATA_DIR: dataDir,
    PUBLIC_URL: "http://parley.test",
    LOG_LEVEL: "silent",
    ...env,
  });
  const log = createLogger(config.logLevel);
  const db = await openTestDatabase();
  const runtime = await openRuntime(config, log, { database: db });
  const app = await buildApp(runtime.ctx);
  await app.ready();
  let baseUrl = "";
  if (options.listen) {
    await app.listen({ port: 0, host: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    runtime.ctx.selfUrl = baseUrl;
  }
  const request = (options: InjectOptions) => app.inject(options);
  return {
    app,
    ctx: runtime.ctx,
    config,
    baseUrl,
    request,
    api: (project, options) =>
      request({ ...options, headers: { ...options.headers, "x-api-key": project.apiKey } }),
    async createProject(name = "Test project") {
      const { project, key } = await createProject(runtime.ctx.db, name);
      return { projectId: project.id, apiKey: key.api_key };
    },
    async close() {
      await app.close();
      await runtime.close();
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
