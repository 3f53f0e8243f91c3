import { describe, expect, it } from 'vitest';
import { isRealInstant, monthOf, nextMonthStartOf } from './periods.js';

describe('isRealInstant', () => {
  it('accepts instants with a zone that name a real moment', () => {
    for (const value of [
      '2026-11-27T19:05:28Z',
      '2026-11-27T19:05:28.123456+05:30',
      '2024-02-29T00:00:00-12:00',
      '2000-02-29T23:59:59z',
      '1970-01-01T00:00:00Z',
      '2026-01-01T00:00:00+15:59',
      '2026-01-01T00:00:00-15:59',
    ]) {
      expect(isRealInstant(value), value).toBe(true);
    }
  });

  it('refuses calendar and clock fields that do not exist, and instants without a zone', () => {
    for (const value of [
      '2026-02-29T00:00:00Z', // not a leap year
      '2100-02-29T00:00:00Z', // a century that is not a leap year
      '2026-02-30T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+16:00', // beyond what PostgreSQL stores
      '2026-01-01T00:00:00-23:59',
      '2026-01-01T00:00:00+01:60',
      '2026-01-01T00:00:00',
      '1969-12-31T23:59:59Z',
      '2026-01-01 00:00:00Z',
      '2026-01-01T00:00:00.Z', // a fraction without digits
      '2026-01-01T00:00:00Zz',
      '2026-01-01T00:00:00+05:3',
      '2026-01-01T00:00:00+05:300',
      '２026-01-01T00:00:00Z', // digits are ASCII
      '+2026-01-01T00:00:00Z',
    ]) {
      expect(isRealInstant(value), value).toBe(false);
    }
  });
});

describe('monthOf', () => {
  it('answers the UTC month at either side of a boundary, however it is asked', () => {
    const last = Date.UTC(2026, 10, 30, 23, 59, 59, 999);
    expect(monthOf(last)).toBe('2026-11');
    expect(monthOf(last + 1)).toBe('2026-12');
    expect(monthOf(new Date(last))).toBe('2026-11'); // after December was remembered
    expect(monthOf('2026-12-01T00:30:00+01:00')).toBe('2026-11');
    expect(monthOf('2027-01-01T00:00:00Z')).toBe('2027-01');
    expect(() => monthOf('not a date')).toThrow(RangeError);
    expect(nextMonthStartOf(last)).toBe('2026-12-01T00:00:00.000Z');
    expect(nextMonthStartOf('2026-12-31T23:59:59.999Z')).toBe('2027-01-01T00:00:00.000Z');
  });
});
