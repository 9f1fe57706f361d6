/**
 * Contract tests driven by the proto descriptors: every message type of chat.v1, filled with
 * a value in every field, survives binary and JSON round trips, and JSON uses the proto's
 * own field names so other languages' clients interoperate.
 */
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  ScalarType,
  toBinary,
  toJson,
} from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { file_chat_v1_discovery } from '../../gen/chat/v1/discovery_pb.js';
import { file_chat_v1_frames } from '../../gen/chat/v1/frames_pb.js';
import { file_chat_v1_message } from '../../gen/chat/v1/message_pb.js';
import { file_chat_v1_presence } from '../../gen/chat/v1/presence_pb.js';

const files = [file_chat_v1_message, file_chat_v1_frames, file_chat_v1_discovery, file_chat_v1_presence];
const messages = files.flatMap((f) => f.messages);

function scalarSample(type: ScalarType, seed: number): unknown {
  switch (type) {
    case ScalarType.STRING:
      return `s${seed}-héllo-✓`;
    case ScalarType.BOOL:
      return true;
    case ScalarType.BYTES:
      return new Uint8Array([seed, 0, 255]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return BigInt(-seed - 1);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return BigInt(seed + 1);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return seed + 0.5;
    default:
      return seed + 1;
  }
}

/** A message of the schema with every field set (first member of each oneof, depth-limited). */
function sample(schema: DescMessage, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  let seed = 1;
  for (const field of schema.fields) {
    seed++;
    if (field.oneof && field.oneof.fields[0] !== field) continue;
    let value: unknown;
    if (field.fieldKind === 'scalar') value = scalarSample(field.scalar, seed);
    else if (field.fieldKind === 'enum') value = field.enum.values[1]?.number ?? 0;
    else if (field.fieldKind === 'message') {
      if (field.message.typeName === 'google.protobuf.Timestamp')
        value = { seconds: 1700000000n + BigInt(seed), nanos: 1000000 };
      else if (depth < 3) value = create(field.message, sample(field.message, depth + 1));
    } else if (field.fieldKind === 'list') {
      if (field.listKind === 'scalar')
        value = [scalarSample(field.scalar, seed), scalarSample(field.scalar, seed + 1)];
      else if (field.listKind === 'message' && depth < 3)
        value = [create(field.message, sample(field.message, depth + 1))];
    }
    if (value === undefined) continue;
    if (field.oneof) init[field.oneof.localName] = { case: field.localName, value };
    else init[field.localName] = value;
  }
  return init;
}

describe('chat.v1 messages', () => {
  it('covers the public contract names', () => {
    const names = messages.map((m) => m.typeName);
    for (const name of [
      'chat.v1.ChatMessage',
      'chat.v1.Heartbeat',
      'chat.v1.ClientFrame',
      'chat.v1.SendMessage',
      'chat.v1.ServerFrame',
      'chat.v1.Welcome',
      'chat.v1.SendAck',
      'chat.v1.ChatError',
      'chat.v1.ChatServer',
      'chat.v1.Presence',
      'chat.v1.GetChatServerRequest',
      'chat.v1.GetChatServerResponse',
      'chat.v1.ListChatServersRequest',
      'chat.v1.ListChatServersResponse',
      'chat.v1.GetPresenceRequest',
      'chat.v1.GetPresenceResponse',
    ]) {
      expect(names).toContain(name);
    }
  });

  it.each(messages.map((m) => [m.typeName, m] as const))(
    '%s round-trips through binary and JSON',
    (_, schema) => {
      const message = create(schema, sample(schema));
      const fromBin = fromBinary(schema, toBinary(schema, message));
      expect(equals(schema, message, fromBin)).toBe(true);
      const json = toJson(schema, message, { useProtoFieldName: true });
      const fromJs = fromJson(schema, json);
      expect(equals(schema, message, fromJs)).toBe(true);
      // Every set field shows up under its proto (snake_case) name.
      for (const field of schema.fields) {
        if (field.oneof && field.oneof.fields[0] !== field) continue;
        if (message[field.localName as keyof typeof message] === undefined && !field.oneof) continue;
        expect(Object.keys(json as object)).toContain(field.name);
      }
    },
  );

  it('ClientFrame oneof carries send and heartbeat', () => {
    const schema = messages.find((m) => m.typeName === 'chat.v1.ClientFrame')!;
    expect(schema.oneofs[0]?.fields.map((f) => f.name)).toEqual(['send', 'heartbeat']);
  });

  it('ServerFrame oneof carries welcome, send_ack, message and error first', () => {
    const schema = messages.find((m) => m.typeName === 'chat.v1.ServerFrame')!;
    expect(schema.oneofs[0]?.fields.map((f) => f.name).slice(0, 4)).toEqual([
      'welcome',
      'send_ack',
      'message',
      'error',
    ]);
  });
});
