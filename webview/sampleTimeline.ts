// Made-up but realistic timeline traffic, for tests and screenshots: a training script that crashes
// on a KeyError, gets one repair rejected and one accepted, is restored and then verified.
import type { CheckpointInfo, InitMessage, TimelineUpdate } from '../adapter/protocol/timeline';

export const SAMPLE_T0 = 1_700_000_000_000;

export function sampleCheckpoint(id: number, time: number, generation = 0, extra: Partial<CheckpointInfo> = {}): CheckpointInfo {
  return {
    id,
    time,
    bytes: 1_200_000 + id * 10_240,
    frozenMs: 18 + (id % 7) * 3.5,
    dumpMs: 90 + (id % 5) * 7,
    generation,
    backend: 'criu',
    lastOutput: `epoch ${id}: loss=${(1 / (id + 1)).toFixed(4)}`,
    ...extra,
  };
}

/** `count` checkpoints one second apart, starting at SAMPLE_T0 + 1 s. */
export function sampleInit(count: number): InitMessage {
  const checkpoints: CheckpointInfo[] = [];
  for (let i = 1; i <= count; i++) checkpoints.push(sampleCheckpoint(i, SAMPLE_T0 + i * 1000));
  return {
    type: 'init',
    session: { id: 'run-1', program: 'train.py', startTime: SAMPLE_T0, backend: 'criu', pid: 4242, interval: 1 },
    end: null,
    checkpoints,
    crashes: [],
    repairs: [],
    restores: [],
    head: { time: SAMPLE_T0 + count * 1000 + 300, state: 'running', generation: 0, pid: 4242 },
    dropped: 0,
    notice: null,
  };
}

/** The whole story as updates, in the order an adapter would send them. */
export function sampleStory(before = 42): TimelineUpdate[] {
  const t = (s: number): number => SAMPLE_T0 + Math.round(s * 1000);
  const out: TimelineUpdate[] = [
    { type: 'session', change: 'started', session: { id: 'run-1', program: 'train.py', startTime: SAMPLE_T0, backend: 'criu', pid: 4242, interval: 1 } },
  ];
  for (let i = 1; i <= before; i++) {
    out.push({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(i, t(i)) });
    out.push({ type: 'head', head: { time: t(i + 0.1), state: 'running', generation: 0, pid: 4242 } });
  }
  const crashAt = before + 0.3;
  out.push(
    {
      type: 'crash',
      crash: {
        id: 1,
        time: t(crashAt),
        exceptionType: 'KeyError',
        message: "'label'",
        file: '/home/ada/project/train.py',
        line: 57,
        function: 'load_batch',
        paused: true,
        generation: 0,
      },
    },
    { type: 'head', head: { time: t(crashAt), state: 'crashed', generation: 0, pid: 4242 } },
    { type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(before + 1, t(crashAt + 0.05), 0, { atCrash: true, lastOutput: 'Traceback (most recent call last):' }) },
    { type: 'repair', repair: { id: 'r1', time: t(crashAt + 0.7), status: 'proposed', crashId: 1, summary: "batch.get('label', 0)", files: ['train.py'] } },
    { type: 'repair', repair: { id: 'r1', time: t(crashAt + 0.7), status: 'rejected', crashId: 1, summary: "batch.get('label', 0)", files: ['train.py'] } },
    { type: 'repair', repair: { id: 'r2', time: t(crashAt + 7.7), status: 'proposed', crashId: 1, summary: "skip rows without a 'label' column", files: ['train.py', 'data.py'], generation: 1 } },
    { type: 'repair', repair: { id: 'r2', time: t(crashAt + 7.7), status: 'accepted', crashId: 1, summary: "skip rows without a 'label' column", files: ['train.py', 'data.py'], generation: 1 } },
    { type: 'head', head: { time: t(crashAt + 9), state: 'restoring', generation: 1, pid: 4242 } },
    { type: 'restore', restore: { time: t(crashAt + 9.7), checkpointId: before - 2, ms: 182, generation: 1, pid: 4242 } },
    { type: 'head', head: { time: t(crashAt + 9.8), state: 'running', generation: 1, pid: 4242 } },
  );
  const resumed = crashAt + 10;
  for (let i = 0; i < 7; i++) {
    out.push({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(before + 2 + i, t(resumed + i), 1) });
    if (i === 1) {
      out.push({
        type: 'repair',
        repair: { id: 'r2', time: t(crashAt + 7.7), status: 'verified', crashId: 1, summary: "skip rows without a 'label' column", files: ['train.py', 'data.py'], generation: 1, detail: 'load_batch returned' },
      });
    }
  }
  out.push({ type: 'head', head: { time: t(resumed + 7.2), state: 'running', generation: 1, pid: 4242 } });
  return out;
}
