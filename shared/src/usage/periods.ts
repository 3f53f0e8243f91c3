/**
 * Usage is counted per UTC calendar month. A period is named "YYYY-MM" in the
 * API and in Redis keys, and stored as the date of its first day.
 */

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export const isMonth = (value: string) => MONTH.test(value);

/** The UTC month an instant falls in: 23:59:59.999Z on the last day is still that month. */
export function monthOf(instant: Date | string | number): string {
  return monthAround(instant).name;
}

/** The first instant of the next UTC month, ISO: when the API-call quota of the month `instant` falls in resets. */
export function nextMonthStartOf(instant: Date | string | number): string {
  return monthAround(instant).endIso;
}

// Nearly every call asks about the current month: it is answered from the month last computed.
let lastMonth = { name: '', start: 0, end: 0, endIso: '' };
function monthAround(instant: Date | string | number) {
  const ms = instant instanceof Date ? instant.getTime() : typeof instant === 'number' ? instant : Date.parse(instant);
  if (ms >= lastMonth.start && ms < lastMonth.end) return lastMonth;
  const date = new Date(ms);
  const name = date.toISOString().slice(0, 7);
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  lastMonth = { name, start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1), end, endIso: new Date(end).toISOString() };
  return lastMonth;
}

/** The first instant of the month, UTC. */
export function monthStart(month: string): Date {
  const match = MONTH.exec(month);
  if (!match) throw new Error(`not a month: ${month}`);
  return new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
}

/** The first instant of the month after: when that month's API-call quota resets. */
export function monthEnd(month: string): Date {
  const start = monthStart(month);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}

/** "YYYY-MM" → "YYYY-MM-01", the `period` column. */
export const periodDate = (month: string) => `${month}-01`;

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/i;

/**
 * An ISO-8601 instant with a zone that names a real moment: `Date` would turn
 * 2026-02-30 into March 2nd, and PostgreSQL would refuse it and fail a whole
 * batch, so calendar and clock fields are checked here.
 */
export function isRealInstant(value: string): boolean {
  // Called for every event at least twice (intake and queue): no arrays, no Date objects.
  const match = ISO_INSTANT.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year < 1970 || month < 1 || month > 12 || Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6]) > 59) return false;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (day < 1 || day > DAYS_IN_MONTH[month - 1]! + leapDay) return false;
  return match[9] === undefined || (Number(match[9]) <= 23 && Number(match[10]) <= 59);
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** An event's instant at millisecond precision, as stored: PostgreSQL would round sub-microsecond digits into the next month. */
export const normaliseInstant = (value: string) => new Date(value).toISOString();
