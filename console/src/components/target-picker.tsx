// Where a schedule airs: units picked from the administrative tree (a unit means every station below it)
// and single stations, with a search that ignores diacritics. Only the user's own part of the tree is shown.
import { useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { t } from '../i18n.ts';

export interface Unit {
  code: string;
  name: string;
  type: string;
  parentCode: string | null;
}
interface Station {
  code: string;
  name: string;
}
export interface Targets {
  units: string[];
  stations: string[];
}

/** "Sóc Sơn" and "soc son" match: lower case, no diacritics, đ as d. */
export const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/gi, 'd')
    .toLowerCase();

/** Every unit in force, page by page (a country holds thousands). */
export async function loadUnits(): Promise<Unit[]> {
  const all: Unit[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api<{ total: number; items: Unit[] }>('GET', `/units?limit=1000&offset=${offset}`);
    all.push(...page.items);
    if (all.length >= page.total || !page.items.length) return all;
  }
}

export function TargetPicker({ me, value, onChange }: { me: Me; value: Targets; onChange: (next: Targets) => void }) {
  const [units, setUnits] = useState<Unit[]>([]);
  const [stations, setStations] = useState<Record<string, Station[]>>({});
  const [names, setNames] = useState<Record<string, string>>({});
  const [query, setQuery] = useState('');
  useEffect(() => {
    void loadUnits().then(setUnits);
  }, []);
  const children = new Map<string | null, Unit[]>();
  for (const u of units) children.set(u.parentCode, [...(children.get(u.parentCode) ?? []), u]);
  const byCode = new Map(units.map((u) => [u.code, u]));
  // A scoped user starts at their own unit; a whole-tree user at the top of the tree.
  const roots = me.unit ? units.filter((u) => u.code === me.unit?.code) : (children.get(null) ?? []);
  const inScope = (u: Unit): boolean => {
    if (!me.unit || u.code === me.unit.code) return true;
    const parent = u.parentCode === null ? undefined : byCode.get(u.parentCode);
    return parent ? inScope(parent) : false;
  };

  const toggle = (key: keyof Targets, code: string, on: boolean) =>
    onChange({ ...value, [key]: on ? [...new Set([...value[key], code])] : value[key].filter((c) => c !== code) });
  const openStations = (code: string) => {
    if (stations[code]) return;
    void api<{ items: Station[] }>('GET', `/stations?unit=${encodeURIComponent(code)}&limit=1000`).then((r) => {
      setStations((all) => ({ ...all, [code]: r.items }));
      setNames((all) => ({ ...all, ...Object.fromEntries(r.items.map((s) => [s.code, s.name])) }));
    });
  };
  const unitBox = (u: Unit) => (
    <label class="inline">
      <input type="checkbox" checked={value.units.includes(u.code)} onChange={(e) => toggle('units', u.code, e.currentTarget.checked)} />
      {u.name}
    </label>
  );
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const expand = (code: string, leaf: boolean) => {
    const next = new Set(expanded);
    if (next.has(code)) next.delete(code);
    else {
      next.add(code);
      if (leaf) openStations(code);
    }
    setExpanded(next);
  };
  const node = (u: Unit) => {
    const below = children.get(u.code) ?? [];
    const open = expanded.has(u.code);
    return (
      <li key={u.code}>
        <span class="node">
          <button
            type="button"
            class="link toggle"
            aria-expanded={open}
            aria-label={t(below.length ? 'showUnits' : 'showStations', { name: u.name })}
            onClick={() => expand(u.code, !below.length)}
          >
            {open ? '▾' : '▸'}
          </button>
          {unitBox(u)}
        </span>
        {open &&
          (below.length ? (
            <ul>{below.map(node)}</ul>
          ) : (
            <ul>
              {(stations[u.code] ?? []).map((s) => (
                <li key={s.code}>
                  <label class="inline">
                    <input
                      type="checkbox"
                      checked={value.stations.includes(s.code)}
                      onChange={(e) => toggle('stations', s.code, e.currentTarget.checked)}
                    />
                    {s.name} <small>({s.code})</small>
                  </label>
                </li>
              ))}
            </ul>
          ))}
      </li>
    );
  };
  const words = fold(query).split(/\s+/).filter(Boolean);
  const found = words.length
    ? units.filter((u) => inScope(u) && words.every((w) => fold(u.name).includes(w) || u.code.startsWith(w))).slice(0, 40)
    : [];
  const chosen = [
    ...value.units.map((code) => ({ key: 'units' as const, code, name: byCode.get(code)?.name ?? code })),
    ...value.stations.map((code) => ({ key: 'stations' as const, code, name: names[code] ?? code })),
  ];

  return (
    <fieldset class="targets">
      <legend>{t('targets')}</legend>
      {chosen.length ? (
        <ul class="chips" aria-label={t('chosenTargets')}>
          {chosen.map((c) => (
            <li key={`${c.key}${c.code}`}>
              {c.name}
              <button
                type="button"
                class="link"
                aria-label={t('removeTarget', { name: c.name })}
                onClick={() => toggle(c.key, c.code, false)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p class="quiet">{t('noTargets')}</p>
      )}
      <label>
        {t('findUnit')}
        <input type="search" value={query} placeholder={t('findUnitHint')} onInput={(e) => setQuery(e.currentTarget.value)} />
      </label>
      {words.length ? (
        <ul class="found">
          {found.map((u) => (
            <li key={u.code}>
              {unitBox(u)} <small>{byCode.get(u.parentCode ?? '')?.name ?? ''}</small>
            </li>
          ))}
          {!found.length && <li class="quiet">{t('nothingFound')}</li>}
        </ul>
      ) : (
        <ul class="tree">{roots.map(node)}</ul>
      )}
    </fieldset>
  );
}
