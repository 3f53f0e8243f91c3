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
  lastMonth = {
    name,
    start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
    end,
    endIso: new Date(end).toISOString(),
  };
  return lastMonth;
}

/** The first instant of the month, UTC. */
function monthStart(month: string): Date {
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

/** Whether the character at `at` is an ASCII digit (NaN past the end is not). */
function isDigitAt(value: string, at: number): boolean {
  const code = value.charCodeAt(at);
  return code >= 48 && code <= 57;
}

/** The number the two ASCII digits at `at` spell, or -1. */
function twoDigits(value: string, at: number): number {
  return isDigitAt(value, at) && isDigitAt(value, at + 1)
    ? (value.charCodeAt(at) - 48) * 10 + value.charCodeAt(at + 1) - 48
    : -1;
}

/**
 * An ISO-8601 instant with a zone that names a real moment, exactly
 * `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)` (T and Z in either case, the
 * offset at most ±15:59): `Date` would turn 2026-02-30 into March 2nd, and
 * PostgreSQL would refuse it, or an offset beyond ±15:59, and fail a whole
 * batch, so calendar, clock and zone fields are checked here. It runs
 * for every event at least twice (intake and queue), so it reads character
 * codes: a regular expression's match array and its eleven strings were 4 %
 * of the API's CPU under batched ingest, most of it garbage to collect.
 */
export function isRealInstant(value: string): boolean {
  if (value.length < 20) return false;
  const century = twoDigits(value, 0);
  const yearOfCentury = twoDigits(value, 2);
  const month = twoDigits(value, 5);
  const day = twoDigits(value, 8);
  const hour = twoDigits(value, 11);
  const minute = twoDigits(value, 14);
  const second = twoDigits(value, 17);
  if (century < 0 || yearOfCentury < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return false;
  if (
    value[4] !== '-' ||
    value[7] !== '-' ||
    (value[10] !== 'T' && value[10] !== 't') ||
    value[13] !== ':' ||
    value[16] !== ':'
  ) {
    return false;
  }
  const year = century * 100 + yearOfCentury;
  if (year < 1970 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (day < 1 || day > DAYS_IN_MONTH[month - 1]! + leapDay) return false;

  let at = 19;
  if (value[at] === '.') {
    at += 1;
    const fractionStart = at;
    while (isDigitAt(value, at)) at += 1;
    if (at === fractionStart) return false;
  }
  const zone = value[at];
  if (zone === 'Z' || zone === 'z') return at + 1 === value.length;
  if (zone !== '+' && zone !== '-') return false;
  const zoneHours = twoDigits(value, at + 1);
  const zoneMinutes = twoDigits(value, at + 4);
  // PostgreSQL stores offsets up to ±15:59 and refuses the rest ("time zone displacement out of
  // range"); real zones span -12:00 to +14:00.
  return (
    value.length === at + 6 &&
    value[at + 3] === ':' &&
    zoneHours >= 0 &&
    zoneHours <= 15 &&
    zoneMinutes >= 0 &&
    zoneMinutes <= 59
  );
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** An event's instant at millisecond precision, as stored: PostgreSQL would round sub-microsecond digits into the next month. */
export const normaliseInstant = (value: string) => new Date(value).toISOString();
