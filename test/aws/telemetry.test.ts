import { afterEach, describe, expect, it, vi } from 'vitest';
import { powertoolsTelemetry } from '../../shared/aws/telemetry';

/** The EMF documents written to stdout while `run` runs. */
function emfWrittenBy(run: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line));
}

describe('powertoolsTelemetry', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes one EMF document per set of dimensions at flush, with every value of a metric in it', () => {
    const telemetry = powertoolsTelemetry('hourglass-test');
    const documents = emfWrittenBy(() => {
      for (let i = 0; i < 10; i++) {
        telemetry.count('TasksCompleted', 1, { taskType: 'send-mail' });
        telemetry.latency('TimerLatenessMs', 100 + i, { taskType: 'send-mail' });
      }
      telemetry.count('TasksCompleted', 1, { taskType: 'compress-image' });
      telemetry.count('DuplicateEvents', 3);
      telemetry.flush();
    });
    expect(documents).toHaveLength(3);
    const mail = documents.find((d) => d.taskType === 'send-mail')!;
    expect(mail.TasksCompleted).toEqual(Array(10).fill(1));
    expect(mail.TimerLatenessMs).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(documents.find((d) => d.taskType === 'compress-image')!.TasksCompleted).toBe(1);
    expect(documents.find((d) => d.DuplicateEvents !== undefined)!.DuplicateEvents).toBe(3);
  });

  it('writes nothing before flush, and nothing at a flush with nothing recorded', () => {
    const telemetry = powertoolsTelemetry('hourglass-test');
    expect(emfWrittenBy(() => telemetry.count('TasksCompleted', 1, { taskType: 't' }))).toEqual([]);
    expect(emfWrittenBy(() => telemetry.flush())).toHaveLength(1);
    expect(emfWrittenBy(() => telemetry.flush())).toEqual([]);
  });
});
