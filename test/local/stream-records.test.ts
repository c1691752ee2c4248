import { describe, expect, it } from 'vitest';
import { asLambdaRecords } from '../../local/stream-records';
import { streamImage } from '../../shared/aws';

describe('asLambdaRecords', () => {
  it('restores the empty maps the Streams SDK client turns into {}, so images unmarshall as on Lambda', () => {
    const sdkImage = {
      type: { S: 'task' },
      input: {},
      nested: { M: { inner: {} } },
      list: { L: [{}] },
    };
    const [record] = asLambdaRecords([
      { eventName: 'INSERT', dynamodb: { SequenceNumber: '1', NewImage: sdkImage } },
    ]);

    expect(() => streamImage(sdkImage)).toThrow();
    expect(streamImage(record!.dynamodb!.NewImage, 'task')).toEqual({
      type: 'task',
      input: {},
      nested: { inner: {} },
      list: [{}],
    });
  });
});
