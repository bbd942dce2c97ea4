/**
 * The line format the project's generated tables share (modules/wim/native/natives.table,
 * pc/rpc/calls.table): one row a line, blank lines and `#` comments skipped, five columns separated
 * by white space, then a free-text documentation column.
 */

/**
 * Calls `row(columns, where, lineNumber)` for each row of `text`; `columns` holds the five columns
 * and the documentation (trimmed), `where` is "FILE:LINE" for messages. `header` names the columns
 * in the error for a line that has fewer.
 */
export function eachRow(text, file, header, row) {
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const where = `${file}:${i + 1}`;
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${where}: expected 5 columns: ${header}`);
    row([m[1], m[2], m[3], m[4], m[5], m[6].trim()], where, i + 1);
  });
}
