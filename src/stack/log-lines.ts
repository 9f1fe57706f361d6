/**
 * Makes service output readable in one terminal: each line gets the process name, and pino's
 * JSON lines become "time level message key=value".
 */

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'v']);

/** One output line of process `name`, formatted for humans. */
export function formatLine(name: string, line: string, width = 10): string {
  const prefix = `[${name}]`.padEnd(width + 2);
  if (!line.startsWith('{')) return `${prefix} ${line}`;
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
    const level = LEVELS[record.level as number] ?? String(record.level ?? '');
    const extras = Object.entries(record)
      .filter(([k]) => !OMIT.has(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${prefix} ${time} ${level.padEnd(5)} ${String(record.msg ?? '')}${extras ? `  ${extras}` : ''}`;
  } catch {
    return `${prefix} ${line}`;
  }
}
