/** One numbered schema step. Versions are consecutive from 1; a released migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Plain DDL/DML, no parameters; run inside the migration transaction. */
  readonly sql: string;
}
