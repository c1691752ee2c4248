import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatInstant,
  parseDuration,
  parseInstant,
  readPath,
  TimeFormatError,
} from '../../shared/core';
import { assertPath } from '../../shared/core/path';

describe('parseDuration', () => {
  it.each([
    ['20s', 20_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['1w', 604_800_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['PT30M', 1_800_000],
    ['P3D', 259_200_000],
    ['P1DT2H', 93_600_000],
    ['PT0.5S', 500],
    ['P1W', 604_800_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text, 'after')).toBe(ms);
  });

  it.each([['30'], ['m30'], ['thirty minutes'], ['P'], ['PT'], ['P1Y'], ['P1M'], ['-5m'], ['']])(
    'refuses %j and names the field',
    (text) => {
      expect(() => parseDuration(text, 'retry.initial')).toThrow(
        /^retry\.initial must be a duration such as "20s".*got ".*" \(string\)$/,
      );
    },
  );

  it('refuses a number, saying which type it got', () => {
    expect(() => parseDuration(30, 'timeout')).toThrow(
      'timeout must be a duration such as "20s", "30m", "1h30m", "3d" or an ISO-8601 duration such as "PT30M" (no years or months), got 30 (number)',
    );
  });

  it('throws a TimeFormatError that carries the field and the value', () => {
    const error = (() => {
      try {
        parseDuration('soon', 'deadline');
      } catch (e) {
        return e;
      }
    })() as TimeFormatError;
    expect(error).toBeInstanceOf(TimeFormatError);
    expect(error.field).toBe('deadline');
    expect(error.value).toBe('soon');
  });
});

describe('parseInstant', () => {
  it('reads a UTC time', () => {
    expect(parseInstant('2026-11-22T09:30:00Z', 'time')).toBe(Date.UTC(2026, 10, 22, 9, 30));
  });

  it('reads any UTC offset, with or without a colon', () => {
    const utc = Date.UTC(2026, 10, 22, 9, 30);
    expect(parseInstant('2026-11-22T10:30:00+01:00', 'detail.sendAt')).toBe(utc);
    expect(parseInstant('2026-11-22T04:00:00-0530', 'detail.sendAt')).toBe(utc);
    expect(parseInstant('2026-11-22T09:30:00.123456Z', 'time')).toBe(utc + 123);
  });

  it.each([
    ['2026-11-22T09:30:00', 'a local time with no offset is ambiguous'],
    ['2026-11-22', 'a date alone'],
    ['yesterday', 'words'],
    ['2026-13-45T99:00:00Z', 'an impossible date'],
  ])('refuses %j (%s), naming the field', (text) => {
    expect(() => parseInstant(text, 'detail.publishAt')).toThrow(
      /^detail\.publishAt must be an ISO-8601 time with a UTC offset/,
    );
  });

  it('refuses a number of milliseconds', () => {
    expect(() => parseInstant(1_700_000_000_000, 'time')).toThrow(/got 1700000000000 \(number\)$/);
  });
});

describe('formatting', () => {
  it('formats instants as ISO-8601 UTC', () => {
    expect(formatInstant(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('2026-01-02T03:04:05.000Z');
  });

  it('formats durations in the short form', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(259_200_000 + 1_500)).toBe('3d1s500ms');
  });
});

describe('paths', () => {
  it('reads nested values and gives undefined for a missing step', () => {
    const event = { detail: { user: { id: 'u1' } } };
    expect(readPath(event, 'detail.user.id')).toBe('u1');
    expect(readPath(event, 'detail.cart.id')).toBeUndefined();
    expect(readPath(null, 'detail')).toBeUndefined();
  });

  it('refuses a malformed path', () => {
    expect(() => assertPath('detail..userId', 'key')).toThrow(
      'key must be a dotted path into the event such as "detail.userId", got "detail..userId"',
    );
  });
});
