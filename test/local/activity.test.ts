import { describe, expect, it } from 'vitest';
import { scheduledLine } from '../../local/activity';

const task = {
  taskType: 'remind-trial-ending',
  taskId: 'trial#a1#remind-trial-ending#1',
  workflow: 'trial',
  key: 'a1',
  runAt: Date.parse('2026-03-12T09:00:00.000Z'),
  generation: 1,
};

describe('what npm run dev prints about tasks', () => {
  it('says which task was scheduled, for which instance, and when it is due', () => {
    expect(scheduledLine(task, Date.parse('2026-03-12T08:30:00.000Z'))).toBe(
      'SCHEDULED remind-trial-ending trial#a1#remind-trial-ending#1 for trial/a1, due 2026-03-12T09:00:00.000Z (in 30m)',
    );
  });

  it('says when a task was moved, and when it is due at once', () => {
    expect(scheduledLine({ ...task, generation: 2 }, Date.parse('2026-03-12T09:00:01.000Z'))).toBe(
      'SCHEDULED remind-trial-ending trial#a1#remind-trial-ending#1 for trial/a1, due 2026-03-12T09:00:00.000Z (now) (moved)',
    );
  });
});
