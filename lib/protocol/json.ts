// Strings and integer literals of 16+ digits (which may exceed 2^53) in JSON text; strings come
// first in the alternation so digits inside strings are left alone.
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d{16,}(?![.eE\d])/g;

/**
 * JSON.parse that keeps large integers exact: every integer literal of 16 or more digits is
 * parsed as a decimal string instead of a lossy number. Ids such as appId, miUserId and
 * topicId exceed 2^53, and servers send them both ways.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text.replace(TOKENS, (token) => (token.startsWith('"') ? token : `"${token}"`)));
}
