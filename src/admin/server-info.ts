import fs from "node:fs";
import path from "node:path";

/** Written by a running server into its data directory (mode 0600) so the CLI can reach it. */
export interface ServerInfo {
  pid: number;
  admin_url: string;
  admin_secret: string;
  public_url: string;
}

export const serverInfoPath = (dataDir: string) => path.join(dataDir, "server.json");

export function writeServerInfo(dataDir: string, info: ServerInfo): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = serverInfoPath(dataDir);
  fs.writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export function readServerInfo(dataDir: string): ServerInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(serverInfoPath(dataDir), "utf8")) as ServerInfo;
  } catch {
    return undefined;
  }
}

/** Removes the file only if it still describes this process (a newer server may have replaced it). */
export function removeServerInfo(dataDir: string, pid = process.pid): void {
  if (readServerInfo(dataDir)?.pid === pid) fs.rmSync(serverInfoPath(dataDir), { force: true });
}
