/**
 * The browser chat page. It talks to discovery with the Connect protocol and to a chat server
 * with protobuf WebSocket frames through the same SDK every other client uses.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { PresenceService } from '../../gen/chat/v1/presence_pb.js';
import { ChatClient } from '../client/chat-client.js';
import type { ChatClientError } from '../client/errors.js';

interface PageConfig {
  discoveryUrl: string;
  devMode: boolean;
}

interface Line {
  id: string;
  from: string;
  body: string;
  at: number;
  pending?: boolean;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const conversations = new Map<string, Line[]>();
const unread = new Map<string, number>();
const online = new Map<string, boolean>();
let me = '';
let peer = '';
let client: ChatClient | undefined;
let presenceSoon: ReturnType<typeof setTimeout> | undefined;
let refreshPresenceNow: () => void = () => {};

function setStatus(state: string): void {
  const el = $('status');
  el.textContent = state;
  el.dataset.state = state;
  el.className = `status status-${state}`;
}

function ensurePerson(user: string): void {
  if (user === me || conversations.has(user)) return;
  conversations.set(user, []);
  renderPeople();
  // A new person: ask for their presence now rather than at the next poll.
  clearTimeout(presenceSoon);
  presenceSoon = setTimeout(() => refreshPresenceNow(), 50);
}

function renderPeople(): void {
  const list = $('people');
  list.replaceChildren(
    ...[...conversations.keys()].sort().map((user) => {
      const li = document.createElement('li');
      li.dataset.user = user;
      if (user === peer) li.className = 'active';
      const dot = document.createElement('span');
      dot.className = `dot${online.get(user) ? ' online' : ''}`;
      dot.title = online.get(user) ? 'online' : 'offline';
      const name = document.createElement('span');
      name.textContent = user;
      li.append(dot, name);
      const count = unread.get(user) ?? 0;
      if (count > 0 && user !== peer) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(count);
        li.append(badge);
      }
      li.onclick = () => openConversation(user);
      return li;
    }),
  );
}

function renderMessages(): void {
  const lines = conversations.get(peer) ?? [];
  const list = $('messages');
  list.replaceChildren(
    ...lines.map((line) => {
      const li = document.createElement('li');
      li.className = `${line.from === me ? 'mine' : 'theirs'}${line.pending ? ' pending' : ''}`;
      li.dataset.id = line.id;
      const time = document.createElement('time');
      time.textContent = `${line.from} · ${new Date(line.at).toLocaleTimeString()}${line.pending ? ' · sending…' : ''}`;
      const body = document.createElement('span');
      body.className = 'body';
      body.textContent = line.body;
      li.append(time, body);
      return li;
    }),
  );
  list.scrollTop = list.scrollHeight;
}

function openConversation(user: string): void {
  ensurePerson(user);
  peer = user;
  unread.set(user, 0);
  $('peer-title').textContent = `Conversation with ${user}`;
  $<HTMLInputElement>('send-body').disabled = false;
  $<HTMLButtonElement>('send-button').disabled = false;
  renderPeople();
  renderMessages();
  const last = conversations.get(user)?.at(-1);
  if (last && !last.pending) client?.markRead(last.at);
}

function addLine(other: string, line: Line): void {
  ensurePerson(other);
  const lines = conversations.get(other)!;
  if (lines.some((l) => l.id === line.id)) return;
  lines.push(line);
  lines.sort((a, b) => a.at - b.at);
  if (other === peer) {
    renderMessages();
    if (document.visibilityState === 'visible') client?.markRead(line.at);
  } else {
    unread.set(other, (unread.get(other) ?? 0) + 1);
    renderPeople();
  }
}

function onMessage(m: ChatMessage): void {
  const at = m.sentAt ? timestampDate(m.sentAt).getTime() : Date.now();
  const other = m.senderId === me ? m.recipientId : m.senderId;
  addLine(other, { id: m.messageId, from: m.senderId, body: m.body, at });
}

async function refreshPresence(config: PageConfig): Promise<void> {
  const users = [...conversations.keys()];
  if (users.length === 0) return;
  try {
    const presence = createClient(PresenceService, ChatClient.transportFor(config.discoveryUrl));
    const { presences } = await presence.getPresence({ userIds: users });
    for (const p of presences) online.set(p.userId, p.online);
    renderPeople();
  } catch {
    // Presence is best effort; the next poll tries again.
  }
}

async function signIn(config: PageConfig, user: string): Promise<void> {
  const getToken = async () => {
    const res = await fetch('/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user }),
    });
    const data = (await res.json()) as { token?: string; error?: string };
    if (!res.ok || !data.token) throw new Error(data.error ?? `token request failed (${res.status})`);
    return data.token;
  };
  await getToken();
  me = user;
  $('me').textContent = `signed in as ${user}`;
  $('signin').hidden = true;
  $('chat').hidden = false;
  client = new ChatClient({ discoveryUrl: config.discoveryUrl, userId: user, token: getToken });
  client.on('state', (s) => setStatus(s === 'idle' ? 'offline' : s));
  client.on('message', onMessage);
  client.on('welcome', (w) => {
    const status = $('status');
    status.dataset.server = w.serverId;
    status.title = `chat server ${w.serverId}`;
  });
  setStatus('connecting');
  void client.connect().catch(() => {});
  refreshPresenceNow = () => void refreshPresence(config);
  setInterval(refreshPresenceNow, 2000);
}

async function main(): Promise<void> {
  const config = (await (await fetch('/config.json')).json()) as PageConfig;
  $('signin-form').onsubmit = (ev) => {
    ev.preventDefault();
    const user = $<HTMLInputElement>('signin-user').value.trim();
    signIn(config, user).catch((err: Error) => {
      $('signin-error').textContent = err.message;
    });
  };
  $('add-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('add-user');
    const user = input.value.trim();
    if (user && user !== me) openConversation(user);
    input.value = '';
  };
  $('send-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('send-body');
    const body = input.value;
    if (!body || !peer || !client) return;
    input.value = '';
    const to = peer;
    const temp: Line = {
      id: `pending-${crypto.randomUUID()}`,
      from: me,
      body,
      at: Date.now(),
      pending: true,
    };
    addLine(to, temp);
    client.send(to, body).then(
      (ack) => {
        temp.id = ack.messageId;
        temp.pending = false;
        temp.at = ack.sentAt ? timestampDate(ack.sentAt).getTime() : temp.at;
        if (to === peer) renderMessages();
      },
      (err: ChatClientError) => {
        conversations.set(
          to,
          (conversations.get(to) ?? []).filter((l) => l !== temp),
        );
        $('send-error').textContent = `not sent: ${err.code} ${err.message}`;
        if (to === peer) renderMessages();
      },
    );
  };
  window.addEventListener('offline', () => setStatus('offline'));
}

void main();
