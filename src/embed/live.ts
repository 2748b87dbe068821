import sql from "sql-template-tag";
import type { WebSocket } from "ws";
import type { AppContext } from "../context.ts";
import { EVENTS_CHANNEL, INBOX_CHANNEL } from "../events/publish.ts";
import { isUuid } from "../lib/ids.ts";
import { findConversation } from "../modules/conversations/store.ts";
import type { InboxEmbedRow } from "../modules/inbox-embeds/store.ts";
import { messageMediaUrl } from "../modules/media/urls.ts";
import { presentMessage } from "../modules/messages/presenter.ts";
import type { MessageRow } from "../modules/messages/store.ts";
import { lookupEmbed } from "./access.ts";
import { presentEmbedConversation } from "./present.ts";
import { inScope, scopeFacts } from "./scope.ts";

/** How often an open socket hears from the server (and its embed is checked again). */
const HEARTBEAT_MS = 25_000;
/** A client that lets this much pile up unread is cut off; it reconnects and catches up. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * What a NOTIFY on either channel says: an event's `EventNotice`, or an inbox-only notice
 * (`announceToInboxes`); either may name the stored message it is about.
 */
interface Notice {
  type?: string;
  project_id?: string;
  conversation_id?: string | null;
  message_id?: string | null;
}

interface Subscriber {
  token: string;
  embed: InboxEmbedRow;
  socket: WebSocket;
}

/**
 * Fans the database's change announcements out to the open inbox WebSockets of this process.
 * Every process runs one and LISTENs on the events channel and the inbox channel, so a change
 * committed by any process reaches every open inbox. Each notice costs a query or two only when
 * a socket of its project is open here, and only sockets whose embed scope includes the
 * conversation hear about it. Notices are handled one at a time so that pushes keep the order
 * in which PostgreSQL delivered them (`sent` before `delivered`).
 */
export class InboxHub {
  readonly #ctx: AppContext;
  readonly #subscribers = new Set<Subscriber>();
  #unlisten: (() => Promise<void>)[] = [];
  #queue: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(ctx: AppContext) {
    this.#ctx = ctx;
  }

  async start(): Promise<void> {
    for (const channel of [EVENTS_CHANNEL, INBOX_CHANNEL]) {
      this.#unlisten.push(
        await this.#ctx.db.listen(channel, (payload) => {
          this.#queue = this.#queue.then(() => this.#handle(payload));
        }),
      );
    }
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const unlisten of this.#unlisten) await unlisten();
    this.#unlisten = [];
    for (const s of this.#subscribers) s.socket.close(1001, "Server shutting down");
    await this.#queue;
  }

  /** Starts pushing to a socket that passed the token and Origin checks. */
  add(socket: WebSocket, embed: InboxEmbedRow, token: string): void {
    const subscriber = { socket, embed, token };
    this.#subscribers.add(subscriber);
    socket.on("close", () => this.#subscribers.delete(subscriber));
    // The page sends nothing; anything it does send is ignored.
    this.#send(subscriber, { type: "ready" });
  }

  get size(): number {
    return this.#subscribers.size;
  }

  #send(s: Subscriber, message: Record<string, unknown>): void {
    if (s.socket.readyState !== s.socket.OPEN) return;
    if (s.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      s.socket.terminate();
      return;
    }
    // `at` is the server's clock: the page catches up from the last `at` it saw.
    s.socket.send(JSON.stringify({ ...message, at: new Date().toISOString() }));
  }

  /** Keeps idle connections open through proxies, and closes those whose embed was revoked or expired. */
  async #beat(): Promise<void> {
    for (const s of this.#subscribers) {
      const embed = await lookupEmbed(this.#ctx, s.token).catch(() => s.embed);
      if (!embed) {
        s.socket.close(4401, "Inbox embed token is invalid, revoked or expired");
        continue;
      }
      s.embed = embed;
      this.#send(s, { type: "ping" });
    }
  }

  async #handle(payload: string): Promise<void> {
    try {
      const notice = JSON.parse(payload) as Notice;
      const conversationId = notice.conversation_id;
      if (!notice.type || !notice.project_id || !isUuid(conversationId)) return;
      const listeners = [...this.#subscribers].filter((s) => s.embed.project_id === notice.project_id);
      if (listeners.length === 0) return;
      const facts = await scopeFacts(this.#ctx.db, conversationId);
      const audience = facts ? listeners.filter((s) => inScope(s.embed, facts)) : [];
      if (audience.length === 0) return;
      const conversation = await findConversation(this.#ctx.db, notice.project_id, conversationId);
      if (!conversation) return;
      const message = await this.#message(notice);
      const push = {
        type: "event",
        event: notice.type,
        conversation: presentEmbedConversation(conversation),
        message,
      };
      for (const s of audience) this.#send(s, push);
    } catch (err) {
      this.#ctx.log.warn({ err }, "inbox live update failed");
    }
  }

  /** The message a notice is about, presented as the thread API presents it. */
  async #message(notice: Notice) {
    if (isUuid(notice.message_id)) {
      const [row] = await this.#ctx.db.query<MessageRow>(
        sql`SELECT * FROM messages WHERE id = ${notice.message_id} AND project_id = ${notice.project_id}`,
      );
      return row ? presentMessage(row, messageMediaUrl(this.#ctx)) : null;
    }
    return null;
  }
}
