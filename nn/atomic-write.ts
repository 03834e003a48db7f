// Atomic file writes: a temp file in the same folder, fsync, rename over the target, fsync the
// folder, so a crash at any point leaves either the old file or the new one, whole. Used by
// checkpoint.ts, the CLI's reports and the benchmarks' results.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Write `data` (a string as UTF-8, or bytes in one or more chunks) to `file`; on failure the temp
 * file is removed.
 */
export function writeFileAtomic(
  file: string,
  data: string | Uint8Array | readonly Uint8Array[],
): void {
  const chunks =
    typeof data === 'string'
      ? [Buffer.from(data, 'utf8')]
      : data instanceof Uint8Array
        ? [data]
        : data;
  const temp = `${file}.${process.pid}.tmp`;
  let fd: number | null = null;
  try {
    fd = openSync(temp, 'w');
    for (const bytes of chunks) {
      // writeSync may write less than asked (a full disk, a signal): loop until the chunk is out
      for (let done = 0; done < bytes.length;)
        done += writeSync(fd, bytes, done, bytes.length - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, file);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  }
  // The rename is durable once the folder's entry is on disk. Some platforms cannot open or sync a
  // folder (Windows, some network filesystems); there the rename is as durable as they make it.
  try {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // best effort by design: the file itself is already complete and synced
  }
}
