import type { SimulationInput } from '../../shared/core';

/** The scenarios' t0: an arbitrary, fixed instant. */
export const T0 = Date.parse('2026-11-02T09:00:00Z');

/** Minutes, hours and days in milliseconds, for readable offsets from T0. */
export const minutes = (n: number) => n * 60_000;
export const hours = (n: number) => n * 3_600_000;
export const days = (n: number) => n * 86_400_000;

/** ISO-8601 UTC text of T0 plus an offset. */
export const at = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();

let counter = 0;

/** An EventBridge event as producers send it, with a fresh id unless one is given. */
export interface ShopEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: Record<string, unknown>;
}

/** Builds a shop event at T0 plus `offsetMs`. */
export function shopEvent(
  detailType: string,
  detail: Record<string, unknown>,
  offsetMs = 0,
  id = `evt-${++counter}`,
): ShopEvent {
  return { id, source: 'shop', 'detail-type': detailType, time: at(offsetMs), detail };
}

/** Delivers events at their event time (in the order given when times tie). */
export function inTimeOrder(...events: ShopEvent[]): SimulationInput[] {
  return events.map((event) => ({ event, arrivedAt: Date.parse(event.time) }));
}

/** Delivers an event at an explicit arrival time. */
export function arriving(event: ShopEvent, arrivedAtOffsetMs: number): SimulationInput {
  return { event, arrivedAt: T0 + arrivedAtOffsetMs };
}
