import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

type Event = { eventId: string };
const event = (n: number): Event => ({ eventId: `e-${n}` });

/** An enqueue whose adds finish only when the test says so. */
function controlledEnqueue() {
  const adds: Array<{ events: Event[]; finish: (error?: Error) => void }> = [];
  // As the API uses it: each request's events travel together, every request of a group gets the job's id.
  const enqueue = (requests: Event[][]) =>
    new Promise<string[]>((resolve, reject) => {
      const jobId = `job-${adds.length + 1}`;
      adds.push({
        events: requests.flat(),
        finish: (error) => (error ? reject(error) : resolve(requests.map(() => jobId))),
      });
    });
  return { adds, enqueue };
}
// A few turns of the event loop: a finishing add schedules the next one for the turn after.
const intakeGroup = (
  commit: (requests: Event[][]) => Promise<string[]>,
  lingerMs: number,
  maxSize: number,
  maxInFlight: number,
) => new GroupCommit<Event[], string>(commit, { lingerMs, maxSize, maxInFlight, sizeOf: (events) => events.length });

const nextTurn = async () => {
  for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe('GroupCommit (as the intake groups usage.ingest jobs)', () => {
  it('adds a lone event at once, and what arrives during an add shares the next job', async () => {
    const { adds, enqueue } = controlledEnqueue();
    const group = intakeGroup(enqueue, 0, 2_000, 1);

    const first = group.add([event(1)]);
    await nextTurn();
    expect(adds.map((add) => add.events.length)).toEqual([1]); // no linger without a window

    const later = [group.add([event(2)]), group.add([event(3), event(4)]), group.add([event(5)])];
    await nextTurn();
    expect(adds).toHaveLength(1); // the only add slot is busy: they wait together

    adds[0]!.finish();
    expect(await first).toBe('job-1');
    await nextTurn();
    expect(adds.map((add) => add.events.map((e) => e.eventId))).toEqual([['e-1'], ['e-2', 'e-3', 'e-4', 'e-5']]);
    adds[1]!.finish();
    expect(await Promise.all(later)).toEqual(['job-2', 'job-2', 'job-2']);
  });

  it('never splits a request, starts a full buffer at once, and fails every request of a failed add', async () => {
    const { adds, enqueue } = controlledEnqueue();
    const group = intakeGroup(enqueue, 0, 3, 1);

    const a = group.add([event(1), event(2)]);
    const b = group.add([event(3), event(4)]); // would overflow 3: a goes alone, now
    expect(adds.map((add) => add.events.length)).toEqual([2]);
    const c = group.add([event(5)]); // b + c fill the buffer: started at once though a slot is busy
    expect(adds.map((add) => add.events.length)).toEqual([2, 3]);

    adds[0]!.finish(new Error('redis down'));
    adds[1]!.finish();
    await expect(a).rejects.toThrow('redis down');
    expect(await Promise.all([b, c])).toEqual(['job-2', 'job-2']);
    await group.close();
  });

  it('waits for a linger when one is set, and close() sends what is buffered', async () => {
    const { adds, enqueue } = controlledEnqueue();
    const group = intakeGroup(enqueue, 60_000, 2_000, 2);
    const pending = group.add([event(1)]);
    await nextTurn();
    expect(adds).toHaveLength(0);
    const closed = group.close();
    expect(adds).toHaveLength(1);
    adds[0]!.finish();
    await closed;
    expect(await pending).toBe('job-1');
  });
});
