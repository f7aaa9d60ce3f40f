// The conversation list: server entries merged with pushes, plus groups without messages yet.
// Positions only move forward, so merging keeps the larger of what the list and pushes said.
// The server lists in pages, most active first: `nextBefore` is the cursor of the first page
// not fetched yet, and `beyondUnread` what the server counts as unread in conversations
// further down, so the total stays right before every page is loaded.

export class Conversations {
  constructor(me) {
    this.me = me;
    this.byId = new Map();
    this.groups = new Map();
    this.groupsLoaded = false;
    this.nextBefore = null;
    this.pagesLoaded = 0;
    this.beyondUnread = 0;
    this.listeners = new Set();
    this.scheduled = false;
  }

  subscribe(fn) {
    this.listeners.add(fn);
  }

  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }

  get(id) {
    return this.byId.get(id);
  }

  /** A conversation with no message yet (a chat just started by username). */
  draft(id, fields) {
    if (!this.byId.has(id)) {
      this.byId.set(id, {
        conversation_id: id,
        last_seq: 0,
        read_seq: 0,
        peer_read_seq: 0,
        last_message: null,
        updated_at: Date.now(),
        ...fields,
      });
      this.changed();
    }
    return this.byId.get(id);
  }

  merge(entry) {
    const local = this.byId.get(entry.conversation_id);
    if (!local) {
      this.byId.set(entry.conversation_id, { ...entry });
      return;
    }
    if (entry.last_seq >= local.last_seq) {
      local.last_seq = entry.last_seq;
      local.last_message = entry.last_message || local.last_message;
      local.updated_at = Math.max(local.updated_at, entry.updated_at);
    }
    local.read_seq = Math.max(local.read_seq, entry.read_seq);
    if (entry.peer_read_seq !== null && entry.peer_read_seq !== undefined) {
      local.peer_read_seq = Math.max(local.peer_read_seq || 0, entry.peer_read_seq);
    }
    Object.assign(local, {
      session_type: entry.session_type,
      peer_id: entry.peer_id,
      group_id: entry.group_id,
      muted_until: entry.muted_until ?? null,
      pinned: Boolean(entry.pinned),
    });
  }

  /** Apply a page of `GET /conversations`: the first page, or the next one (`more`). */
  applyList(payload, { more = false } = {}) {
    for (const entry of payload.conversations) this.merge(entry);
    // A refreshed first page must not send "More" back to page two once deeper pages are in.
    if (more || this.pagesLoaded <= 1) this.nextBefore = payload.next_before ?? null;
    this.pagesLoaded = more ? this.pagesLoaded + 1 : Math.max(this.pagesLoaded, 1);
    this.dropLeftGroups();
    let listed = 0;
    for (const entry of this.byId.values()) if (!this.muted(entry)) listed += this.unread(entry);
    this.beyondUnread = this.nextBefore ? Math.max(0, payload.total_unread - listed) : 0;
    this.changed();
  }

  /** Apply the caller's groups (every page of `GET /groups`). */
  applyGroups(groups) {
    this.groups = new Map(groups.map((g) => [g.id, g]));
    this.groupsLoaded = true;
    for (const group of groups) {
      this.draft(`g:${group.id}`, {
        session_type: "group",
        peer_id: null,
        group_id: group.id,
        peer_read_seq: null,
        updated_at: group.created_at,
      });
    }
    this.dropLeftGroups();
    this.changed();
  }

  forgetGroup(groupId) {
    this.groups.delete(groupId);
    this.byId.delete(`g:${groupId}`);
    this.changed();
  }

  dropLeftGroups() {
    if (!this.groupsLoaded) return;
    for (const [id, entry] of this.byId) {
      if (entry.group_id && !this.groups.has(entry.group_id)) this.byId.delete(id);
    }
  }

  /** A pushed or sent message; false when the conversation is not in the list yet. */
  onMessage(message) {
    const entry = this.byId.get(message.conversation_id);
    if (!entry) return false;
    if (message.seq > entry.last_seq) {
      entry.last_seq = message.seq;
      entry.last_message = message;
      entry.updated_at = Math.max(entry.updated_at, message.created_at);
    }
    // Sending moves the sender's own read position to the message.
    if (message.sender_id === this.me) entry.read_seq = Math.max(entry.read_seq, message.seq);
    this.changed();
    return true;
  }

  /** A `recall` or `edit` frame: the newer revision replaces the list's preview of it. */
  onChange(message) {
    const entry = this.byId.get(message.conversation_id);
    const shown = entry && entry.last_message;
    if (!shown || shown.seq !== message.seq || (shown.revision || 0) >= message.revision) return;
    entry.last_message = message;
    this.changed();
  }

  /** A `read` frame: our own position (another device) or the peer's. */
  onRead(frame) {
    const entry = this.byId.get(frame.conversation_id);
    if (!entry) return;
    if (frame.user_id === this.me) entry.read_seq = Math.max(entry.read_seq, frame.seq);
    else if (entry.session_type === "single") {
      entry.peer_read_seq = Math.max(entry.peer_read_seq || 0, frame.seq);
    }
    this.changed();
  }

  /** A `settings` frame: our own mute and pin of a conversation, set on any of our devices. */
  onSettings(frame) {
    const entry = this.byId.get(frame.conversation_id);
    if (!entry) return;
    entry.muted_until = frame.muted_until;
    entry.pinned = frame.pinned;
    this.changed();
  }

  /** Muted now: the entry keeps its unread, the total leaves it out (as the server counts). */
  muted(entry, now = Date.now()) {
    return entry.muted_until !== null && entry.muted_until !== undefined && entry.muted_until > now;
  }

  /** We have seen up to `seq` here; true if that moved our position. */
  markSeen(id, seq) {
    const entry = this.byId.get(id);
    if (!entry || seq <= entry.read_seq) return false;
    entry.read_seq = seq;
    entry.last_seq = Math.max(entry.last_seq, seq);
    this.changed();
    return true;
  }

  unread(entry) {
    return Math.max(0, entry.last_seq - entry.read_seq);
  }

  totalUnread() {
    let total = this.beyondUnread;
    for (const entry of this.byId.values()) if (!this.muted(entry)) total += this.unread(entry);
    return total;
  }

  /** Pinned first, then most recently active, then by id (descending), as the server lists. */
  sorted() {
    const byId = (a, b) => (a.conversation_id < b.conversation_id ? 1 : a.conversation_id > b.conversation_id ? -1 : 0);
    const pin = (a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned));
    return [...this.byId.values()].sort((a, b) => pin(a, b) || b.updated_at - a.updated_at || byId(a, b));
  }
}
