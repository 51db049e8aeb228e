const { formatCents, daysBetween, slugify, chunk } = require('./helpers');

describe('formatCents', () => {
  test.each([[0, '$0.00'], [5, '$0.05'], [199, '$1.99'], [-250, '-$2.50'], [100000, '$1000.00']])(
    'formats %i as %s', (cents, text) => { expect(formatCents(cents)).toBe(text); });
});
describe('daysBetween', () => {
  test('same day', () => expect(daysBetween('2024-01-01', '2024-01-01')).toBe(0));
  test('leap year', () => expect(daysBetween('2024-02-28', '2024-03-01')).toBe(2));
  test('year', () => expect(daysBetween('2023-01-01', '2024-01-01')).toBe(365));
});
describe('slugify', () => {
  test.each([['Hello World', 'hello-world'], ['  Trim me  ', 'trim-me'], ['C++ & Rust!', 'c-rust'],
             ['already-slug', 'already-slug'], ['Ünïcode', 'unicode']])('%s', (t, s) => expect(slugify(t)).toBe(s));
});
describe('chunk', () => {
  for (let size = 1; size <= 6; size++) {
    test(`size ${size}`, () => { expect(chunk([1, 2, 3, 4, 5, 6], size).flat()).toEqual([1, 2, 3, 4, 5, 6]); });
  }
  test('empty', () => expect(chunk([], 3)).toEqual([]));
  test('keeps order', () => expect(chunk(['a', 'b', 'c'], 2)).toEqual([['a', 'b'], ['c']]));
  test('size larger than list', () => expect(chunk([1, 2], 5)).toEqual([[1, 2], []]));
});
