/** Renders docs/benchmarks.md from bench/results/*.json (stub; replaced below). */
export async function renderReport(_dir: string): Promise<string> {
  return 'docs/benchmarks.md';
}
