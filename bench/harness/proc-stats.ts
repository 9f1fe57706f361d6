/**
 * CPU seconds and memory of processes, read from /proc (Linux): utime+stime from
 * /proc/<pid>/stat, VmRSS and VmHWM (peak RSS) from /proc/<pid>/status. A sampler polls the
 * processes during a run so the peak RSS is known even for processes we did not start (the
 * Kafka and ZooKeeper JVMs, PostgreSQL backends).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '../../src/infra/paths.js';

/** Clock ticks per second of /proc/<pid>/stat times (CLK_TCK; 100 on Linux). */
const CLK_TCK = 100;

/** One reading of one process. */
export interface ProcReading {
  cpuSeconds: number;
  rssBytes: number;
  peakRssBytes: number;
}

/** Reads one process; undefined when it is gone. */
export function readProc(pid: number): ProcReading | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** What one named process (or group of processes) used during a measured window. */
export interface ProcUsage {
  name: string;
  pids: number[];
  /** CPU seconds (user + system) spent inside the window. */
  cpuSeconds: number;
  /** CPU seconds divided by the window length: 1.0 = one core busy. */
  cores: number;
  /** Highest sampled RSS inside the window (summed over the group), bytes. */
  peakRssBytes: number;
  /** RSS at the end of the window, bytes. */
  endRssBytes: number;
}

/** A process to watch: a fixed pid list, or a function re-evaluated at each sample (PostgreSQL backends come and go). */
export interface WatchedProcess {
  name: string;
  pids: () => number[];
}

/** Samples processes every intervalMs between start() and stop(). */
export interface ProcSampler {
  /** Starts (or restarts) a measured window. */
  start(): void;
  /** Ends the window and returns per-process usage. */
  stop(): ProcUsage[];
}

/** Creates a sampler for the given processes. */
export function createProcSampler(watched: WatchedProcess[], intervalMs = 250): ProcSampler {
  let timer: NodeJS.Timeout | undefined;
  let startedAt = 0;
  const state = new Map<
    string,
    { startCpu: Map<number, number>; lastCpu: Map<number, number>; peak: number; end: number }
  >();
  const sample = (initial: boolean) => {
    for (const w of watched) {
      let s = state.get(w.name);
      if (!s || initial) {
        s = { startCpu: new Map(), lastCpu: new Map(), peak: 0, end: 0 };
        state.set(w.name, s);
      }
      let rss = 0;
      for (const pid of w.pids()) {
        const r = readProc(pid);
        if (!r) continue;
        if (!s.startCpu.has(pid)) s.startCpu.set(pid, initial ? r.cpuSeconds : 0);
        s.lastCpu.set(pid, r.cpuSeconds);
        rss += r.rssBytes;
      }
      s.peak = Math.max(s.peak, rss);
      s.end = rss;
    }
  };
  return {
    start() {
      if (timer) clearInterval(timer);
      startedAt = performance.now();
      sample(true);
      timer = setInterval(() => sample(false), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      sample(false);
      const seconds = (performance.now() - startedAt) / 1000;
      return watched.map((w) => {
        const s = state.get(w.name)!;
        let cpu = 0;
        for (const [pid, last] of s.lastCpu) cpu += last - (s.startCpu.get(pid) ?? 0);
        return {
          name: w.name,
          pids: [...s.lastCpu.keys()],
          cpuSeconds: round3(cpu),
          cores: round3(cpu / seconds),
          peakRssBytes: s.peak,
          endRssBytes: s.end,
        };
      });
    },
  };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** The pid in .data/<name>.pid (the Kafka and ZooKeeper JVMs started by src/infra), if running. */
export function pidFromFile(name: string): number[] {
  try {
    const pid = Number(readFileSync(join(dataDir(), `${name}.pid`), 'utf8').trim());
    return pid > 0 && readProc(pid) ? [pid] : [];
  } catch {
    return [];
  }
}

/** Pids of every process whose command name is `comm` (e.g. "postgres": server and backends). */
export function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The infrastructure processes: Kafka and ZooKeeper JVMs (from their pid files) and PostgreSQL. */
export function infraProcesses(): WatchedProcess[] {
  return [
    { name: 'kafka', pids: () => pidFromFile('kafka') },
    { name: 'zookeeper', pids: () => pidFromFile('zookeeper') },
    { name: 'postgres', pids: () => pidsByComm('postgres') },
  ];
}

/** Busy CPU seconds of the whole machine so far (all cores, from /proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}
