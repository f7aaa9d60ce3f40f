// Entry point: the login screen, then the chat wired to the API and the push socket.

import { ApiError, authedApi, publicApi } from "./api.js";
import { BlockBar, Blocks } from "./blocks.js";
import { $, say } from "./dom.js";
import { Conversations } from "./conversations.js";
import { GroupDialogs, resolveUsernames } from "./groups.js";
import { ConversationList, titleOf } from "./list.js";
import { Outbox } from "./outbox.js";
import { People } from "./people.js";
import { Presence } from "./presence.js";
import { Session, deviceId, takeNotice } from "./session.js";
import { SettingsBar } from "./settings.js";
import { PushSocket } from "./socket.js";
import { ThreadView } from "./thread.js";
import { TypingIndicator } from "./typing.js";

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const CONVERSATION_ID = /^(s:\d{1,16}:\d{1,16}|g:\d{1,16})$/;
const REFRESH_LIST_MS = 60000;
const APP_TITLE = "gomicroim";

const session = new Session();
session.onEnded(() => location.reload());

if (session.active) startChat();
else showLogin(takeNotice());

// --- login ----------------------------------------------------------------------------------

function showLogin(notice) {
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  document.title = APP_TITLE;
  say($("login-error"), notice);
  const form = $("login-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(false);
  });
  $("register-button").addEventListener("click", () => signIn(true));
  $("login-username").focus();
}

async function signIn(register) {
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!USERNAME.test(username)) {
    say(error, "A username has 3–32 letters, digits, “_”, “.” or “-”.");
    return;
  }
  if (password.length < (register ? 8 : 1)) {
    say(error, register ? "A password has at least 8 characters." : "Enter your password.");
    return;
  }
  const buttons = $("login-form").querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    if (register) await publicApi.register(username, password);
    session.store(await publicApi.login(username, password, deviceId()));
    $("login-form").reset();
    $("login-view").hidden = true;
    startChat();
  } catch (e) {
    say(error, e instanceof ApiError && e.code === "bad_credentials" ? "Wrong username or password." : e.message);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// --- chat -----------------------------------------------------------------------------------

async function startChat() {
  const api = authedApi(session);
  const me = session.userId;
  const people = new People(api);
  const conversations = new Conversations(me);
  const blocks = new Blocks(api);
  const presence = new Presence({ api, send: (frame) => socket.send(frame) });
  let thread;
  const outbox = new Outbox(api, me, {
    onSent(message) {
      conversations.onMessage(message);
      thread.receive(message);
    },
    onChange(conversationId) {
      if (thread.openId === conversationId) {
        thread.renderPending();
        blockBar.render();
      }
    },
    onRejected(item) {
      // Refused because we blocked them (perhaps on another device): the button says so now.
      if (item.code === "you_blocked_user" && item.session_type === "single") blocks.learn(item.to);
    },
  });
  thread = new ThreadView({ api, me, conversations, people, outbox });
  const blockBar = new BlockBar({ blocks, people, outbox, conversations, openId: () => thread.openId });
  const settingsBar = new SettingsBar({ api, conversations, openId: () => thread.openId });
  const list = new ConversationList($("conversation-list"), {
    me,
    conversations,
    people,
    presence,
    onOpen: (id) => openConversation(id),
    onMore: () => loadMore(),
  });
  const dialogs = new GroupDialogs({
    api,
    me,
    people,
    conversations,
    openConversation: (id) => openConversation(id),
    refreshGroups: () => loadGroups(),
    leftGroup(groupId) {
      conversations.forgetGroup(groupId);
      if (thread.openId === `g:${groupId}`) closeConversation();
    },
  });

  $("login-view").hidden = true;
  $("chat-view").hidden = false;

  conversations.subscribe(() => {
    list.render();
    const total = conversations.totalUnread();
    document.title = total ? `(${total}) ${APP_TITLE}` : APP_TITLE;
    if (thread.openId) $("conversation-title").textContent = currentTitle();
    thread.updateReceipts();
    settingsBar.render();
    presence.follow(singlePeers());
  });
  presence.subscribe(() => {
    list.render();
    showPresence();
  });
  people.subscribe((user) => {
    people.fill(document.body, user);
    // List previews name group senders inside longer text: render the list again.
    conversations.changed();
    if (user.id === me) $("me-name").textContent = user.nickname || user.username;
    if (thread.openId) $("conversation-title").textContent = currentTitle();
    typing.render();
    blockBar.render();
  });

  const typing = new TypingIndicator({ me, people, send: (frame) => socket.send(frame) });
  const socket = new PushSocket({
    token: () => session.accessToken(),
    renew: () => session.renew("token_expired"),
    onHello: () => resync(),
    onFrame: (frame) => {
      if (frame.type === "message") {
        typing.message(frame.message);
        if (!conversations.onMessage(frame.message)) {
          // The list we fetch may have been read before this message was stored: hold it
          // and apply it over the list, or the badge would miss it.
          unlisted.push(frame.message);
          resyncList();
        }
        thread.receive(frame.message);
        // A group change (a rename, members, dissolution): fetch the groups again for titles.
        if (frame.message.msg_type === "system") resyncList();
      } else if (frame.type === "recall" || frame.type === "edit") {
        conversations.onChange(frame.message);
        thread.change(frame.message);
      } else if (frame.type === "read") {
        conversations.onRead(frame);
      } else if (frame.type === "typing") {
        typing.frame(frame);
      } else if (frame.type === "settings") {
        conversations.onSettings(frame);
      } else if (frame.type === "presence") {
        presence.frame(frame);
      } else if (frame.type === "kick") {
        // The close code that follows says what to do.
      }
    },
    onState: showConnection,
  });
  session.onEnded(() => socket.stop());

  // Pull the truth after every (re)connect: anything pushed while we were away is in there.
  async function resync() {
    // A new socket follows nobody: subscribe again once the list says who the peers are.
    presence.reconnected();
    await resyncList();
    presence.follow(singlePeers());
    thread.invalidateOthers();
    await thread.catchUp();
    outbox.retryAll();
  }

  let listing = null;
  let unlisted = [];
  // Held messages already given one more list read: never more than one, so a message whose
  // conversation never lists (a group left meanwhile) cannot keep the list reloading.
  const relisted = new WeakSet();
  function resyncList() {
    let again = false;
    listing ||= Promise.all([loadGroups(), api.conversations()])
      .then(([, payload]) => {
        conversations.applyList(payload);
        const held = unlisted;
        unlisted = [];
        for (const message of held) {
          if (conversations.onMessage(message) || relisted.has(message)) continue;
          // Pushed while this list was being read, and stored after it: read it again.
          relisted.add(message);
          unlisted.push(message);
          again = true;
        }
      })
      .catch(() => {})
      .finally(() => {
        listing = null;
        if (again) resyncList();
      });
    return listing;
  }

  // The next page of the list (on scroll or "More"); one request at a time.
  let loadingMore = null;
  function loadMore() {
    const before = conversations.nextBefore;
    if (!before || loadingMore) return loadingMore;
    loadingMore = api
      .conversations(before)
      .then((payload) => conversations.applyList(payload, { more: true }))
      .catch(() => {})
      .finally(() => {
        loadingMore = null;
      });
    return loadingMore;
  }

  async function loadGroups() {
    const groups = [];
    let cursor = null;
    do {
      const page = await api.groups(cursor);
      groups.push(...page.groups);
      cursor = page.next_cursor;
    } while (cursor);
    conversations.applyGroups(groups);
  }

  /** The single-chat peers of the loaded list, most recent first (pinned ones before). */
  function singlePeers() {
    return conversations
      .sorted()
      .filter((entry) => entry.session_type === "single" && entry.peer_id)
      .map((entry) => entry.peer_id);
  }

  /** The open single chat's header line: "online", "last seen …", or nothing (a group). */
  function showPresence() {
    const entry = conversations.get(thread.openId);
    const node = $("presence-status");
    const peer = entry && entry.session_type === "single" ? entry.peer_id : null;
    node.textContent = peer ? presence.describe(peer) : "";
    node.dataset.online = String(Boolean(peer && presence.online(peer)));
  }

  function currentTitle(id = thread.openId) {
    const entry = conversations.get(id);
    return entry ? titleOf(entry, conversations, people) : "";
  }

  async function openConversation(id) {
    if (!CONVERSATION_ID.test(id)) return;
    let entry = conversations.get(id);
    if (!entry) {
      if (id.startsWith("g:")) return;
      const [, a, b] = id.split(":").map(Number);
      if (a !== me && b !== me) return;
      entry = conversations.draft(id, {
        session_type: "single",
        peer_id: a === me ? b : a,
        group_id: null,
      });
    }
    if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
    $("empty-state").hidden = true;
    $("conversation-pane").hidden = false;
    $("chat-view").classList.add("show-thread");
    $("members-button").hidden = !entry.group_id;
    $("conversation-title").textContent = currentTitle(id);
    list.setActive(id);
    typing.open(id);
    const opening = thread.open(id);
    // After open(): these read the open id.
    blockBar.render();
    settingsBar.render();
    showPresence();
    if (!entry.group_id) blocks.load();
    await opening;
    $("composer").focus();
  }

  function closeConversation() {
    thread.close();
    typing.open(null);
    showPresence();
    history.replaceState(null, "", location.pathname);
    $("conversation-pane").hidden = true;
    $("empty-state").hidden = false;
    $("chat-view").classList.remove("show-thread");
    list.setActive(null);
  }

  // --- composer -------------------------------------------------------------------------------

  const composer = $("composer");
  function send() {
    const body = composer.value;
    const entry = conversations.get(thread.openId);
    if (!entry || !body.trim()) return;
    const to = entry.group_id || entry.peer_id;
    outbox.add(entry.conversation_id, to, entry.group_id ? "group" : "single", body);
    composer.value = "";
    grow();
    thread.scrollToBottom();
  }
  function grow() {
    composer.rows = Math.min(8, Math.max(1, composer.value.split("\n").length));
  }
  composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  composer.addEventListener("input", () => {
    grow();
    if (thread.openId && composer.value.trim()) typing.typed(thread.openId);
  });
  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
    composer.focus();
  });

  // --- sidebar actions ------------------------------------------------------------------------

  $("new-chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("new-chat-username");
    const error = $("new-chat-error");
    const name = input.value.trim();
    if (!USERNAME.test(name)) {
      say(error, "Enter a whole username (3–32 letters, digits, “_”, “.” or “-”).");
      return;
    }
    try {
      const [user] = await resolveUsernames(api, [name]);
      if (user.id === me) {
        say(error, "That is you. Pick someone else.");
        return;
      }
      people.remember(user);
      say(error, "");
      input.value = "";
      openConversation(`s:${Math.min(me, user.id)}:${Math.max(me, user.id)}`);
    } catch (e) {
      say(error, e.message);
    }
  });
  $("new-group-button").addEventListener("click", () => dialogs.openCreate());
  $("members-button").addEventListener("click", () => {
    const entry = conversations.get(thread.openId);
    if (entry && entry.group_id) dialogs.openMembers(entry.group_id);
  });
  $("back-button").addEventListener("click", closeConversation);
  $("reconnect-button").addEventListener("click", () => socket.connectSoon());
  $("logout").addEventListener("click", async () => {
    socket.stop();
    try {
      await api.logout();
    } catch {
      // Signed out here either way; the server ends the session when the token lapses.
    }
    session.end("You are signed out.");
  });
  window.addEventListener("hashchange", () => openConversation(location.hash.slice(1)));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resyncList();
  });
  setInterval(() => document.visibilityState === "visible" && resyncList(), REFRESH_LIST_MS);

  // --- start ----------------------------------------------------------------------------------

  api.me().then((user) => people.remember(user)).catch(() => {});
  socket.start();
  await resyncList();
  const wanted = location.hash.slice(1);
  if (CONVERSATION_ID.test(wanted)) openConversation(wanted);
}

function showConnection(state, delayMs) {
  const node = $("connection-state");
  node.dataset.state = state;
  const text = {
    connecting: "Connecting…",
    online: "Online",
    offline: `Offline, retrying in ${Math.max(1, Math.round((delayMs || 0) / 1000))} s`,
    replaced: "Open in another tab",
  }[state];
  node.textContent = text || state;
  $("reconnect-button").hidden = state !== "replaced";
}
