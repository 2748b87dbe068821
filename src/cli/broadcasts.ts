import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { CommandError } from "../admin/commands.ts";

// `parley broadcasts …`: a client of the Platform API (the same calls any integration makes),
// authenticated with a project API key.

interface ApiOptions {
  url: string;
  apiKey: string;
}

type Json = Record<string, unknown>;

interface Broadcast {
  id: string;
  name: string;
  status: string;
  total_recipients: number;
  sent_count: number;
  failed_count: number;
  delivered_count: number;
  read_count: number;
  pending_count: number;
  suppressed_count: number;
  responded_count: number;
}

const FINISHED = ["completed", "stopped", "failed"];

function apiOptions(opts: { url?: string; apiKey?: string }): ApiOptions {
  const apiKey = opts.apiKey ?? process.env.PARLEY_API_KEY;
  if (!apiKey) throw new CommandError("an API key is needed: --api-key or PARLEY_API_KEY");
  const url = (opts.url ?? process.env.PARLEY_URL ?? `http://localhost:${process.env.PORT || 8080}`).replace(
    /\/+$/,
    "",
  );
  return { url, apiKey };
}

async function call<T>(api: ApiOptions, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        "x-api-key": api.apiKey,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new CommandError(`cannot reach Parley at ${api.url}: ${(err as Error).message}`);
  }
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as Json) : {};
  if (!response.ok) {
    const message = typeof parsed.error === "string" ? parsed.error : JSON.stringify(parsed.error ?? parsed);
    throw new CommandError(`${method} ${path}: ${response.status} ${message}`);
  }
  return parsed as T;
}

/**
 * Recipients from a file: a JSON array of the API's recipient objects, or lines of
 * `phone[,body parameter,…]` (blank lines and lines starting with `#` are skipped).
 */
export function readRecipients(file: string): Json[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new CommandError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.trimStart().startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CommandError(`${file} is not valid JSON`);
    }
    if (!Array.isArray(parsed)) throw new CommandError(`${file} must hold a JSON array of recipients`);
    return parsed as Json[];
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const [phone, ...params] = line.split(",").map((v) => v.trim());
      return params.length
        ? {
            phone_number: phone,
            components: [{ type: "body", parameters: params.map((text) => ({ type: "text", text })) }],
          }
        : { phone_number: phone };
    });
}

/** A template id from `--template`: Meta's id as given, or looked up by name on the number's WABA. */
async function templateId(api: ApiOptions, phoneNumberId: string, template: string): Promise<string> {
  if (/^\d+$/.test(template)) return template;
  const number = await call<{ data: { business_account_id: string | null } }>(
    api,
    "GET",
    `/platform/v1/whatsapp/phone_numbers/${encodeURIComponent(phoneNumberId)}`,
  );
  const waba = number.data.business_account_id;
  if (!waba) throw new CommandError(`phone number ${phoneNumberId} has no WhatsApp Business Account`);
  const list = await call<{ data: { id: string; name: string; status: string }[] }>(
    api,
    "GET",
    `/meta/whatsapp/v24.0/${waba}/message_templates?name=${encodeURIComponent(template)}`,
  );
  const found = list.data.find((t) => t.name === template);
  if (!found) throw new CommandError(`no template named ${template} on WABA ${waba}`);
  return found.id;
}

const done = (b: Broadcast) => b.sent_count + b.failed_count + b.suppressed_count;

function summary(b: Broadcast): string {
  return `Broadcast ${b.id} ${b.status}: ${b.sent_count} sent, ${b.failed_count} failed, ${b.suppressed_count} suppressed, ${b.pending_count} pending, ${b.delivered_count} delivered, ${b.read_count} read, ${b.responded_count} responded (of ${b.total_recipients})`;
}

/**
 * Polls the broadcast and draws a progress bar (sent / failed / delivered / read, rate, ETA)
 * until it completes, stops or fails. Resolves with the final broadcast.
 */
async function watch(api: ApiOptions, id: string, intervalMs: number): Promise<Broadcast> {
  const get = async () =>
    (
      await call<{ data: Broadcast }>(
        api,
        "GET",
        `/platform/v1/whatsapp/broadcasts/${encodeURIComponent(id)}`,
      )
    ).data;
  let b = await get();
  const bar = new SingleBar({
    format:
      "{bar} {percentage}% | {value}/{total} | sent {sent} failed {failed} delivered {delivered} read {read} | {rate} msg/s | ETA {eta_formatted} | {state}",
    noTTYOutput: true,
    notTTYSchedule: 2_000,
    etaBuffer: 20,
    hideCursor: true,
  });
  const payload = (x: Broadcast, rate: number) => ({
    sent: x.sent_count,
    failed: x.failed_count,
    delivered: x.delivered_count,
    read: x.read_count,
    rate: rate.toFixed(1),
    state: x.status,
  });
  bar.start(Math.max(1, b.total_recipients), done(b), payload(b, 0));
  let last = { at: Date.now(), done: done(b) };
  while (!FINISHED.includes(b.status)) {
    await sleep(intervalMs);
    b = await get();
    const now = Date.now();
    const rate = ((done(b) - last.done) * 1000) / Math.max(1, now - last.at);
    last = { at: now, done: done(b) };
    bar.setTotal(Math.max(1, b.total_recipients));
    bar.update(done(b), payload(b, rate));
  }
  bar.stop();
  return b;
}

function interval(raw: string): number {
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 100)
    throw new CommandError(`--interval must be at least 100 (ms), got ${raw}`);
  return ms;
}

function finish(b: Broadcast, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(b, null, 2)}\n` : `${summary(b)}\n`);
  if (b.status === "failed") process.exitCode = 1;
}

export function addBroadcastCommands(program: Command): void {
  const broadcasts = program
    .command("broadcasts")
    .description("template broadcasts, through the Platform API of a running server")
    .option("--url <url>", "Parley's base URL (default: PARLEY_URL, else http://localhost:$PORT)")
    .option("--api-key <key>", "a project API key (default: PARLEY_API_KEY)");

  broadcasts
    .command("send")
    .description("create a broadcast, add recipients from a file, send it (or schedule it) and watch it")
    .requiredOption("--phone-number-id <id>", "the sending number")
    .requiredOption(
      "--template <id-or-name>",
      "Meta template id, or the name of an approved template of the number",
    )
    .requiredOption("--recipients <file>", "JSON array of recipients, or lines of phone[,body parameter,…]")
    .option("--name <name>", "broadcast name", `Broadcast ${new Date().toISOString().slice(0, 16)}`)
    .option("--schedule <iso>", "start at this time (ISO 8601 with time zone) instead of now")
    .option("--no-watch", "return once the broadcast is sent or scheduled")
    .option("--interval <ms>", "polling interval while watching", "1000")
    .option("--json", "print JSON")
    .action(async (opts, command: Command) => {
      const api = apiOptions(command.parent!.opts());
      const pollMs = interval(opts.interval);
      const recipients = readRecipients(opts.recipients);
      if (recipients.length === 0) throw new CommandError(`${opts.recipients} holds no recipients`);
      const created = await call<{ data: Broadcast }>(api, "POST", "/platform/v1/whatsapp/broadcasts", {
        whatsapp_broadcast: {
          name: opts.name,
          phone_number_id: opts.phoneNumberId,
          whatsapp_template_id: await templateId(api, opts.phoneNumberId, opts.template),
        },
      });
      const id = created.data.id;
      const errors: string[] = [];
      let added = 0;
      let duplicates = 0;
      for (let i = 0; i < recipients.length; i += 1000) {
        const result = await call<{ data: { added: number; duplicates: number; errors: string[] } }>(
          api,
          "POST",
          `/platform/v1/whatsapp/broadcasts/${id}/recipients`,
          { whatsapp_broadcast: { recipients: recipients.slice(i, i + 1000) } },
        );
        added += result.data.added;
        duplicates += result.data.duplicates;
        // The API numbers recipients per request; the file's line counts from the whole file.
        errors.push(
          ...result.data.errors.map((e) =>
            e.replace(/^Recipient (\d+)/, (_, n) => `Recipient ${i + Number(n)}`),
          ),
        );
      }
      process.stderr.write(
        `Broadcast ${id}: ${added} recipients added, ${duplicates} duplicates, ${errors.length} refused\n`,
      );
      for (const e of errors) process.stderr.write(`  ${e}\n`);
      if (added === 0) throw new CommandError("no recipient could be added; nothing sent");
      const started = opts.schedule
        ? await call<{ data: Json }>(api, "POST", `/platform/v1/whatsapp/broadcasts/${id}/schedule`, {
            scheduled_at: opts.schedule,
          })
        : await call<{ data: Json }>(api, "POST", `/platform/v1/whatsapp/broadcasts/${id}/send`);
      if (!opts.watch) {
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(started.data, null, 2)}\n`
            : `Broadcast ${id} ${started.data.status}\n`,
        );
        return;
      }
      finish(await watch(api, id, pollMs), opts.json);
    });

  broadcasts
    .command("copy <broadcast_id>")
    .description(
      "copy a broadcast (same number, template and recipients, all pending) and optionally send it",
    )
    .option("--name <name>", "the copy's name (default: the original's + \" (copy)\")")
    .option("--send", "send the copy once its recipients are copied, and watch it")
    .option("--no-watch", "with --send: return once the copy is sent")
    .option("--interval <ms>", "polling interval", "1000")
    .option("--json", "print JSON")
    .action(async (id: string, opts, command: Command) => {
      const api = apiOptions(command.parent!.opts());
      const pollMs = interval(opts.interval);
      const created = await call<{ data: Broadcast }>(
        api,
        "POST",
        `/platform/v1/whatsapp/broadcasts/${id}/copy`,
        {
          whatsapp_broadcast: opts.name === undefined ? {} : { name: opts.name },
        },
      );
      let copy = created.data;
      // Recipients are copied by a job; the copy is a draft (usable) once they all are.
      while (copy.status === "copying") {
        await sleep(pollMs);
        copy = (await call<{ data: Broadcast }>(api, "GET", `/platform/v1/whatsapp/broadcasts/${copy.id}`))
          .data;
      }
      process.stderr.write(
        `Broadcast ${copy.id} (${copy.name}): ${copy.total_recipients} recipients copied\n`,
      );
      if (!opts.send) {
        process.stdout.write(
          opts.json ? `${JSON.stringify(copy, null, 2)}\n` : `Broadcast ${copy.id} ${copy.status}\n`,
        );
        return;
      }
      const started = await call<{ data: Json }>(
        api,
        "POST",
        `/platform/v1/whatsapp/broadcasts/${copy.id}/send`,
      );
      if (!opts.watch) {
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(started.data, null, 2)}\n`
            : `Broadcast ${copy.id} ${started.data.status}\n`,
        );
        return;
      }
      finish(await watch(api, copy.id, pollMs), opts.json);
    });

  broadcasts
    .command("watch <broadcast_id>")
    .description("show a live progress bar of a broadcast until it completes, stops or fails")
    .option("--interval <ms>", "polling interval", "1000")
    .option("--json", "print the final broadcast as JSON")
    .action(async (id: string, opts, command: Command) => {
      const api = apiOptions(command.parent!.opts());
      finish(await watch(api, id, interval(opts.interval)), opts.json);
    });
}
