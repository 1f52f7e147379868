import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSelector, labelKeyProblem, matchesAny, matchesSelector, parseSelector, selectorKey, type LabelSelector } from './selector.js';

function sel(raw: unknown): LabelSelector {
  const r = parseSelector(raw, 'sel');
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.selector;
}

void describe('label selectors', { timeout: 10_000 }, () => {
  const node = { 'kubernetes.io/hostname': 'n1', zone: 'a', role: '' };
  const cases: { name: string; sel: unknown; labels: Record<string, string>; want: boolean }[] = [
    { name: 'empty selects everything', sel: {}, labels: {}, want: true },
    { name: 'null selects everything (absent field)', sel: null, labels: node, want: true },
    { name: 'matchLabels equal', sel: { matchLabels: { zone: 'a' } }, labels: node, want: true },
    { name: 'matchLabels differ', sel: { matchLabels: { zone: 'b' } }, labels: node, want: false },
    { name: 'matchLabels missing key', sel: { matchLabels: { rack: '1' } }, labels: node, want: false },
    { name: 'empty value matches an empty label', sel: { matchLabels: { role: '' } }, labels: node, want: true },
    { name: 'In', sel: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, labels: node, want: true },
    { name: 'In, key missing', sel: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['1'] }] }, labels: node, want: false },
    { name: 'NotIn, value listed', sel: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels: node, want: false },
    { name: 'NotIn, key missing matches', sel: { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['1'] }] }, labels: node, want: true },
    { name: 'Exists', sel: { matchExpressions: [{ key: 'role', operator: 'Exists' }] }, labels: node, want: true },
    { name: 'DoesNotExist', sel: { matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }, labels: node, want: false },
    {
      name: 'labels and expressions are ANDed',
      sel: { matchLabels: { zone: 'a' }, matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }] },
      labels: node,
      want: false,
    },
  ];
  for (const c of cases) void it(c.name, () => assert.equal(matchesSelector(sel(c.sel), c.labels), c.want));

  void it('a list matches when any selector does; an empty list matches everything', () => {
    assert.equal(matchesAny([], {}), true);
    assert.equal(matchesAny([sel({ matchLabels: { zone: 'b' } }), sel({ matchLabels: { zone: 'a' } })], node), true);
    assert.equal(matchesAny([sel({ matchLabels: { zone: 'b' } })], node), false);
  });

  void it('refuses malformed selectors with the field named', () => {
    const bad = (raw: unknown): string[] => {
      const r = parseSelector(raw, 'spec.nodeSelectors[0]');
      assert.equal(r.ok, false);
      return r.ok ? [] : [...r.errors];
    };
    assert.match(bad('zone=a')[0] ?? '', /^spec\.nodeSelectors\[0\]: must be a label selector/);
    assert.match(bad({ matchLabel: { a: 'b' } })[0] ?? '', /unknown field "matchLabel"/);
    assert.match(bad({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] })[0] ?? '', /matchExpressions\[0\]\.operator: "Equals" is not In, NotIn/);
    assert.match(bad({ matchExpressions: [{ key: 'a', operator: 'In' }] })[0] ?? '', /needs at least one value/);
    assert.match(bad({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })[0] ?? '', /takes no values/);
    assert.match(bad({ matchLabels: { 'bad key!': 'x' } })[0] ?? '', /label key "bad key!"/);
    assert.match(bad({ matchLabels: { a: 'x'.repeat(64) } })[0] ?? '', /label value/);
    assert.match(bad({ matchLabels: { a: 5 } })[0] ?? '', /must be a string, got number 5/);
  });

  void it('checks label keys like the API server', () => {
    assert.equal(labelKeyProblem('kubernetes.io/hostname'), undefined);
    assert.equal(labelKeyProblem('a_b.c-d'), undefined);
    assert.notEqual(labelKeyProblem('/x'), undefined);
    assert.notEqual(labelKeyProblem('UPPER.io/x'), undefined);
    assert.notEqual(labelKeyProblem('-x'), undefined);
  });

  void it('prints and compares selectors', () => {
    const s = sel({
      matchLabels: { zone: 'a' },
      matchExpressions: [
        { key: 'r', operator: 'NotIn', values: ['1', '2'] },
        { key: 'x', operator: 'DoesNotExist' },
      ],
    });
    assert.equal(formatSelector(s), 'zone=a,r notin (1,2),!x');
    const t = sel({
      matchExpressions: [
        { key: 'x', operator: 'DoesNotExist' },
        { key: 'r', operator: 'NotIn', values: ['2', '1'] },
      ],
      matchLabels: { zone: 'a' },
    });
    assert.equal(selectorKey(s), selectorKey(t));
  });
});
