/**
 * Resolving the id a user gives (full info hash hex or a unique prefix) to a torrent.
 * Pure.
 */
import { InvalidArgumentError } from '../errors.js';
import { TorrentNotFoundError } from './errors.js';

/** Shortest prefix accepted: shorter ones are too easy to mistype into another torrent. */
export const MIN_ID_PREFIX = 4;

/**
 * Returns the one id in `ids` that equals or starts with `text` (hex, any case).
 * Throws InvalidArgumentError (field `id`) for malformed or ambiguous text and
 * TorrentNotFoundError when nothing matches.
 */
export function resolveTorrentId(text: string, ids: Iterable<string>): string {
  const id = text.trim().toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${MIN_ID_PREFIX},40}$`).test(id))
    throw new InvalidArgumentError(
      'id',
      `"${text.slice(0, 80)}" is not an info hash (40 hex digits) or a prefix of at least ${MIN_ID_PREFIX}`,
    );
  const matches: string[] = [];
  for (const candidate of ids) {
    if (candidate === id) return candidate;
    if (candidate.startsWith(id)) matches.push(candidate);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new TorrentNotFoundError(id);
  throw new InvalidArgumentError(
    'id',
    `"${id}" matches ${matches.length} torrents; give more digits`,
  );
}
