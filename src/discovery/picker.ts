/**
 * Least-loaded choice among the registered chat servers.
 *
 * Published counts lag by up to the registration's coalescing window (about a second). A burst
 * of thousands of clients within that window would all land on the server that looked emptiest,
 * so each server's load is its published count plus the assignments this process made since
 * that count arrived. A new published count already includes those clients; the counter then
 * restarts at zero. Other discovery processes do the same with their own counters; they share
 * nothing but ZooKeeper.
 */
import type { ChatServer } from '../../gen/chat/v1/discovery_pb.js';

/** One registered server and this process's assignments since its last published data. */
export interface ServerEntry {
  readonly server: ChatServer;
  assigned: number;
}

/** A source of uniform random numbers in [0, 1); tests pass a seeded one. */
export type RandomFn = () => number;

/** The registered servers by id, with assignment counters. */
export class ServerTable {
  readonly #entries = new Map<string, ServerEntry>();
  #sorted: ChatServer[] | undefined;

  /** Stores a server's newly published data and restarts its assignment counter. */
  set(server: ChatServer): void {
    this.#entries.set(server.id, { server, assigned: 0 });
    this.#sorted = undefined;
  }

  remove(id: string): void {
    if (this.#entries.delete(id)) this.#sorted = undefined;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Every server, draining ones included, sorted by id (cached until the next change). */
  servers(): ChatServer[] {
    this.#sorted ??= [...this.#entries.values()].map((e) => e.server).sort((a, b) => (a.id < b.id ? -1 : 1));
    return this.#sorted;
  }

  /**
   * The non-draining server with the lowest published count + own assignments, ties broken
   * uniformly at random; counts the assignment. Undefined when no server can be handed out.
   */
  pick(random: RandomFn = Math.random): ChatServer | undefined {
    let best: ServerEntry | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (const entry of this.#entries.values()) {
      if (entry.server.draining) continue;
      const load = entry.server.connections + entry.assigned;
      if (load < bestLoad) {
        best = entry;
        bestLoad = load;
        ties = 1;
      } else if (load === bestLoad) {
        // Reservoir sampling: each of the k tied servers ends up chosen with probability 1/k.
        ties++;
        if (random() * ties < 1) best = entry;
      }
    }
    if (!best) return undefined;
    best.assigned++;
    return best.server;
  }
}
