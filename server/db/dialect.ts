// What differs between SQLite and PostgreSQL in the raw SQL of the reports (as-run-service.ts, uptime.ts)
// and of the bulk writes of acks, group plans and refused requests: placeholders, a list of ids, pairs or
// rows passed as one JSON parameter, a sum that is 0 over no rows, and how an instant is bound. Everything
// else in those queries is written once, in SQL both accept (identifiers quoted, so PostgreSQL keeps their
// case). The proof ledger, the hot path, has one implementation per database instead (proof-ledger.ts,
// proof-ledger-pg.ts).
import type { Db, DbTarget } from './client.ts';
import { sqlTime } from './proof-ledger.ts';

export interface Dialect {
  readonly name: DbTarget['dialect'];
  /** The query with its `?` placeholders in the database's form ($1, $2, … on PostgreSQL). */
  sql(text: string): string;
  /** A one-column subquery of the strings in one JSON-array parameter (one `?`). */
  readonly jsonIds: string;
  /** A two-column subquery (text, integer) of the `[string, number]` pairs in one JSON-array parameter (one `?`). */
  readonly jsonPairs: string;
  /**
   * A subquery of the rows in one JSON-array parameter (one `?`), each row an array of values of these types
   * (instants as `time()` gives them), in order: what an INSERT takes, one statement for any number of rows.
   */
  jsonRows(types: ('text' | 'int' | 'time')[]): string;
  /** The sum of `expr`, 0 over no rows. */
  total(expr: string): string;
  /** An instant as a bound parameter compares with the stored ones. */
  time(d: Date): unknown;
}

const sqlite: Dialect = {
  name: 'sqlite',
  sql: (text) => text,
  jsonIds: 'SELECT value FROM json_each(?)',
  jsonPairs: "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
  // `WHERE true`: an INSERT … SELECT followed by ON CONFLICT needs it to parse.
  jsonRows: (types) => `SELECT ${types.map((_, i) => `json_extract(value, '$[${i}]')`).join(', ')} FROM json_each(?) WHERE true`,
  total: (expr) => `total(${expr})`,
  // Prisma's SQLite adapter stores DateTime as ISO text; raw comparisons need the same text.
  time: sqlTime,
};

/** An instant travels in JSON as ISO text; the columns are UTC without a zone, so the zone is dropped. */
const PG_TYPES = { text: 'text', int: 'int', time: 'timestamp(3)' } as const;

const postgres: Dialect = {
  name: 'postgres',
  sql: (text) => {
    let n = 0;
    // No literal in these queries holds a question mark, so every one is a placeholder.
    return text.replace(/\?/g, () => `$${++n}`);
  },
  jsonIds: 'SELECT jsonb_array_elements_text(?::jsonb)',
  jsonPairs: 'SELECT e->>0, (e->>1)::int FROM jsonb_array_elements(?::jsonb) e',
  jsonRows: (types) => `SELECT ${types.map((type, i) => `(e->>${i})::${PG_TYPES[type]}`).join(', ')} FROM jsonb_array_elements(?::jsonb) e`,
  total: (expr) => `coalesce(sum(${expr}), 0)::float8`,
  time: (d) => d,
};

const dialects = new WeakMap<object, Dialect>();

/** Called by openDatabase: which dialect a client speaks. */
export function setDialect(db: Db, name: DbTarget['dialect']): void {
  dialects.set(db, name === 'postgres' ? postgres : sqlite);
}

/** The dialect of a client made by openDatabase (SQLite for any other). */
export const dialectOf = (db: Db): Dialect => dialects.get(db) ?? sqlite;
