/**
 * Randomised tests take their seed from here: from the named variable when it
 * is set (to replay a failure), else from the clock. The seed is printed at
 * start, so any failing run can be replayed exactly.
 */
export function testSeed(variable: string): number {
  const given = process.env[variable];
  const seed = given ? Number(given) : Date.now() % 2 ** 31;
  if (!Number.isInteger(seed)) throw new Error(`${variable}=${given} is not an integer seed`);
  console.info(`random seed ${seed} (${variable}=${seed} replays this run)`);
  return seed;
}

/** A deterministic generator of numbers in [0, 1) (mulberry32), for tests that shuffle or pick. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles in place (Fisher–Yates) with `random`, and returns the array. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}
