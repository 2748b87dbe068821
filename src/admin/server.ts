import Fastify from "fastify";
import type { AppContext } from "../context.ts";
import { digestsEqual, hashSecret, newSecret } from "../security/secrets.ts";
import { CommandError, runCommand } from "./commands.ts";
import { removeServerInfo, writeServerInfo } from "./server-info.ts";

/**
 * The operator API the CLI uses while a server runs: bound to 127.0.0.1 on a random port,
 * authenticated with a fresh secret that only the data directory's owner can read.
 */
export async function startAdminServer(ctx: AppContext): Promise<{ close(): Promise<void> }> {
  const secret = newSecret("adm");
  const secretDigest = hashSecret(`Bearer ${secret}`);
  const admin = Fastify({
    loggerInstance: ctx.log.child({ component: "admin" }),
  });

  admin.post<{ Params: { name: string }; Body: Record<string, unknown> | undefined }>(
    "/commands/:name",
    async (request, reply) => {
      const header = request.headers.authorization ?? "";
      if (!digestsEqual(hashSecret(header), secretDigest)) {
        return reply.code(401).send({ error: "Missing or invalid admin secret" });
      }
      try {
        return { result: await runCommand(ctx, request.params.name, request.body ?? {}) };
      } catch (err) {
        if (err instanceof CommandError) return reply.code(400).send({ error: err.message });
        throw err;
      }
    },
  );

  await admin.listen({ host: "127.0.0.1", port: 0 });
  const address = admin.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  writeServerInfo(ctx.config.dataDir, {
    pid: process.pid,
    admin_url: `http://127.0.0.1:${port}`,
    admin_secret: secret,
    public_url: ctx.config.publicUrl,
  });
  return {
    async close() {
      removeServerInfo(ctx.config.dataDir);
      await admin.close();
    },
  };
}
