// The open conversation: history paged backwards on scroll, live messages, gap filling,
// read positions. Messages are kept per conversation by seq, so whatever delivers a message
// (a page, a push, a catch-up after a reconnect, our own send) shows it exactly once.

import { $, clear, el, longTime, shortTime } from "./dom.js";
import { systemNotice } from "./system.js";

const PAGE = 50;
const CATCH_UP_PAGE = 100;
// Further behind than this, a fresh newest page beats replaying everything in between.
const RESET_GAP = 300;
const NEAR_BOTTOM_PX = 80;
const PRELOAD_PX = 400;
const READ_DELAY_MS = 150;

const bySeq = (a, b) => a.seq - b.seq;

class ThreadData {
  constructor(id) {
    this.id = id;
    this.bySeq = new Map();
    this.oldest = Infinity;
    // Everything from `oldest` to `newest` is held: pages and catch-ups are complete ranges.
    this.newest = 0;
    this.hasMoreBefore = true;
    this.loaded = false;
    this.stale = false;
    this.catching = null;
    this.again = false;
    this.readFailed = false;
  }
}

export class ThreadView {
  constructor({ api, me, conversations, people, outbox }) {
    Object.assign(this, { api, me, conversations, people, outbox });
    this.cache = new Map();
    this.current = null;
    this.loadingOlder = false;
    this.readTimer = null;
    this.scroller = $("scroller");
    this.list = $("message-list");
    this.pendingList = $("pending-list");
    this.historyState = $("history-state");
    this.topObserver = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && this.loadOlder(),
      { root: this.scroller, rootMargin: `${PRELOAD_PX}px 0px 0px 0px` },
    );
    this.topObserver.observe(this.historyState);
    let frame = 0;
    this.scroller.addEventListener(
      "scroll",
      () => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => this.checkSeen());
      },
      { passive: true },
    );
    document.addEventListener("visibilitychange", () => this.checkSeen());
    window.addEventListener("focus", () => this.checkSeen());
    window.addEventListener("resize", () => this.checkSeen());
  }

  get openId() {
    return this.current ? this.current.id : null;
  }

  /** Show a conversation: its cached messages caught up, or its newest page. */
  async open(id) {
    if (this.current && this.current.id === id) return;
    let thread = this.cache.get(id);
    const entry = this.conversations.get(id);
    const behind = entry && thread ? entry.last_seq - thread.newest : 0;
    if (!thread || !thread.loaded || thread.stale || behind > RESET_GAP) {
      thread = new ThreadData(id);
      this.cache.set(id, thread);
    }
    this.current = thread;
    clear(this.list);
    this.renderPending();
    if (thread.loaded) {
      this.add(thread, [...thread.bySeq.values()], false, true);
      this.afterOpen(thread);
      this.catchUp();
      return;
    }
    this.setHistoryState("loading", "Loading…");
    try {
      const page = await this.api.history(id, { limit: PAGE });
      if (this.current !== thread) return;
      thread.loaded = true;
      thread.hasMoreBefore = page.has_more;
      this.add(thread, page.messages, true);
      this.afterOpen(thread);
      // Messages may have committed between the list and this page, or during it.
      if (entry && entry.last_seq > thread.newest) this.catchUp();
    } catch (error) {
      if (this.current !== thread) return;
      this.cache.delete(id);
      this.setHistoryState("error", `Could not load messages: ${error.message}`);
    }
  }

  afterOpen(thread) {
    this.scrollToBottom();
    this.updateHistoryState();
    this.updateReceipts();
    this.checkSeen();
    this.fillViewport(thread);
  }

  close() {
    this.current = null;
    clear(this.list);
    clear(this.pendingList);
  }

  /** Forget every cached conversation except the open one (after a reconnect). */
  invalidateOthers() {
    for (const [id, thread] of this.cache) if (thread !== this.current) thread.stale = true;
  }

  /** A message from a push or our own send. */
  receive(message) {
    const thread = this.cache.get(message.conversation_id);
    if (!thread || !thread.loaded || thread.bySeq.has(message.seq)) return;
    if (message.seq === thread.newest + 1) {
      thread.newest = message.seq;
      this.add(thread, [message], false);
    } else if (message.seq > thread.newest) {
      // A gap: something in between was missed. Pull it; the pull includes this message.
      if (thread === this.current) this.catchUp();
      else thread.stale = true;
    }
  }

  /** A recalled or edited message: keep the highest revision and redraw it in place. */
  change(message) {
    const thread = this.cache.get(message.conversation_id);
    const held = thread && thread.bySeq.get(message.seq);
    if (!held || (held.revision || 0) >= message.revision) return;
    thread.bySeq.set(message.seq, message);
    if (thread !== this.current) return;
    const shown = this.list.querySelector(`[data-seq="${message.seq}"]`);
    if (shown) shown.replaceWith(this.node(message));
    this.updateReceipts();
  }

  /** Pull everything after the newest held message until there is no more. */
  catchUp() {
    const thread = this.current;
    if (!thread || !thread.loaded) return Promise.resolve();
    if (thread.catching) {
      thread.again = true;
      return thread.catching;
    }
    thread.catching = (async () => {
      do {
        thread.again = false;
        for (;;) {
          const page = await this.api.history(thread.id, {
            after_seq: thread.newest,
            limit: CATCH_UP_PAGE,
          });
          this.add(thread, page.messages, true);
          if (!page.has_more || !page.messages.length) break;
        }
      } while (thread.again);
    })()
      .catch(() => {
        // The next reconnect or reopen pulls again.
        thread.stale = thread !== this.current;
      })
      .finally(() => {
        thread.catching = null;
      });
    return thread.catching;
  }

  async loadOlder() {
    const thread = this.current;
    if (!thread || !thread.loaded || !thread.hasMoreBefore || this.loadingOlder) return;
    this.loadingOlder = true;
    this.setHistoryState("loading", "Loading earlier messages…");
    try {
      const page = await this.api.history(thread.id, { before_seq: thread.oldest, limit: PAGE });
      if (this.current !== thread) return;
      thread.hasMoreBefore = page.has_more;
      this.add(thread, page.messages, false);
    } catch {
      // Scrolling up again retries.
    } finally {
      this.loadingOlder = false;
      if (this.current === thread) {
        this.updateHistoryState();
        this.fillViewport(thread);
      }
    }
  }

  /** Keep loading while the top of the history is still on screen (short conversations). */
  fillViewport(thread) {
    requestAnimationFrame(() => {
      if (this.current !== thread || !thread.hasMoreBefore) return;
      const top = this.scroller.getBoundingClientRect().top;
      if (this.historyState.getBoundingClientRect().bottom > top - PRELOAD_PX) this.loadOlder();
    });
  }

  /**
   * Hold `messages` (dropping ones already held) and show them if this thread is open.
   * `range`: they are a complete page after `newest`, so `newest` may jump to their end.
   */
  add(thread, messages, range, rerender = false) {
    const fresh = rerender ? messages : messages.filter((m) => !thread.bySeq.has(m.seq));
    for (const m of fresh) {
      thread.bySeq.set(m.seq, m);
      if (m.sender_id === this.me) this.outbox.settle(m);
      this.conversations.onMessage(m);
    }
    for (const m of messages) {
      thread.oldest = Math.min(thread.oldest, m.seq);
      if (range) thread.newest = Math.max(thread.newest, m.seq);
    }
    if (thread !== this.current || !fresh.length) return;
    const first = this.list.firstElementChild;
    const firstSeq = first ? Number(first.dataset.seq) : Infinity;
    const older = fresh.filter((m) => m.seq < firstSeq).sort(bySeq);
    const newer = fresh.filter((m) => m.seq > firstSeq).sort(bySeq);
    if (older.length) {
      // Prepend without moving what the reader is looking at.
      const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
      const fragment = document.createDocumentFragment();
      for (const m of older) fragment.append(this.node(m));
      this.list.prepend(fragment);
      if (first) this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    }
    if (newer.length) {
      const stick = this.nearBottom() || newer.some((m) => m.sender_id === this.me);
      for (const m of newer) this.insert(this.node(m), m.seq);
      if (stick) this.scrollToBottom();
    }
    this.updateReceipts();
    this.updateHistoryState();
    this.checkSeen();
  }

  insert(node, seq) {
    const last = this.list.lastElementChild;
    if (!last || Number(last.dataset.seq) < seq) {
      this.list.append(node);
      return;
    }
    for (const child of this.list.children) {
      if (Number(child.dataset.seq) > seq) {
        child.before(node);
        return;
      }
    }
  }

  node(m) {
    if (m.msg_type === "system") return systemNotice(m, this.me, this.people);
    const mine = m.sender_id === this.me;
    const group = m.session_type === "group";
    return el(
      "li",
      {
        class: mine ? "message mine" : "message",
        dataset: { testid: "message-item", seq: m.seq, senderId: m.sender_id, state: mine ? "sent" : "received" },
      },
      group && !mine
        ? el("span", { class: "sender", text: this.people.name(m.sender_id), dataset: { userName: m.sender_id } })
        : null,
      m.msg_type === "text" || m.recalled ? null : el("span", { class: "kind", text: `[${m.msg_type}]` }),
      m.recalled
        ? el("p", { class: "body recalled", text: "Message recalled", dataset: { testid: "recalled" } })
        : el("p", { class: "body", text: m.body }),
      el(
        "div",
        { class: "meta" },
        el("time", {
          text: shortTime(m.created_at),
          title: longTime(m.created_at),
          dateTime: new Date(m.created_at).toISOString(),
        }),
        m.edited_at && !m.recalled ? el("span", { class: "edited", text: "edited", dataset: { testid: "edited" } }) : null,
        mine ? el("span", { class: "status", text: "Sent" }) : null,
      ),
    );
  }

  /** In a single chat, mark our messages the peer has read. */
  updateReceipts() {
    const thread = this.current;
    const entry = thread && this.conversations.get(thread.id);
    if (!entry || entry.session_type !== "single") return;
    const upTo = entry.peer_read_seq || 0;
    for (const node of this.list.querySelectorAll("li.mine")) {
      const read = Number(node.dataset.seq) <= upTo;
      const state = read ? "read" : "sent";
      if (node.dataset.state === state) continue;
      node.dataset.state = state;
      node.querySelector(".status").textContent = read ? "Read" : "Sent";
    }
  }

  renderPending() {
    clear(this.pendingList);
    const thread = this.current;
    if (!thread) return;
    const stick = this.nearBottom();
    for (const item of this.outbox.of(thread.id)) {
      const failed = item.state === "failed" || item.state === "rejected";
      this.pendingList.append(
        el(
          "li",
          {
            class: "message mine",
            dataset: {
              testid: "message-item",
              state: item.state === "queued" ? "sending" : item.state,
              clientMsgId: item.client_msg_id,
              ...(item.code ? { errorCode: item.code } : {}),
            },
          },
          el("p", { class: "body", text: item.body }),
          el("div", { class: "meta" }, el("span", { class: "status", text: failed ? item.error : "Sending…" })),
          failed
            ? el(
                "div",
                { class: "actions" },
                item.state === "failed"
                  ? el("button", {
                      type: "button",
                      class: "secondary small",
                      text: "Retry",
                      dataset: { testid: "retry-send" },
                      on: { click: () => this.outbox.retryAll() },
                    })
                  : null,
                el("button", {
                  type: "button",
                  class: "danger small",
                  text: "Discard",
                  on: { click: () => this.outbox.discard(item.client_msg_id) },
                }),
              )
            : null,
        ),
      );
    }
    if (stick) this.scrollToBottom();
  }

  /** Mark read what is on screen, while the page is visible. */
  checkSeen() {
    const thread = this.current;
    if (!thread || document.visibilityState !== "visible") return;
    const seq = this.lastVisibleSeq();
    if (seq && (this.conversations.markSeen(thread.id, seq) || thread.readFailed)) {
      this.queueRead(thread);
    }
  }

  lastVisibleSeq() {
    const view = this.scroller.getBoundingClientRect();
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      const box = node.getBoundingClientRect();
      if (box.top < view.bottom && box.bottom > view.top) return Number(node.dataset.seq);
      if (box.bottom <= view.top) break;
    }
    return 0;
  }

  queueRead(thread) {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(async () => {
      const entry = this.conversations.get(thread.id);
      if (!entry) return;
      try {
        await this.api.markRead(thread.id, entry.read_seq);
        thread.readFailed = false;
      } catch {
        thread.readFailed = true;
      }
    }, READ_DELAY_MS);
  }

  updateHistoryState() {
    const thread = this.current;
    if (!thread) return;
    if (thread.hasMoreBefore) this.setHistoryState("more", "Scroll up for earlier messages");
    else if (thread.bySeq.size) this.setHistoryState("start", "This is the beginning of the conversation.");
    else this.setHistoryState("start", "No messages yet. Say hello!");
  }

  setHistoryState(state, text) {
    this.historyState.dataset.state = state;
    this.historyState.textContent = text;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
