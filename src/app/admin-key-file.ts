import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Writes the bootstrap admin key to `path` with mode 0600 (directory 0700): to a fresh temporary
 * file first, then renamed over `path`, so a reader never sees a half-written key and the key is
 * never briefly readable with looser permissions.
 */
export async function writeAdminKeyFile(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Removes the admin key file (a minted key that was certainly not stored). */
export async function removeAdminKeyFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
