/** One numbered schema step. Versions ascend from 1 (a gap is allowed: steps written at once may land in either order, and the
 * runner applies each one not recorded); a released migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /**
   * DDL/DML with no parameters, run inside the migration transaction. `{schema}` stands for the quoted schema
   * name: every table lives in the store's schema.
   */
  readonly sql: string;
}
