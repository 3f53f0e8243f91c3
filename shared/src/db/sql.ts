import { createSqlTag } from 'slonik';
import { z } from 'zod';

/**
 * The project's SQL tag: slonik's, with aliases for queries whose rows we do
 * not read. Every query that returns rows uses `sql.type(schema)`.
 */
export const sql = createSqlTag({
  typeAliases: {
    void: z.object({}).strict(),
  },
});
