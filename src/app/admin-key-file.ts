import { mkdir, writeFile, chmod } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes the bootstrap admin key to `path` with mode 0600 (directory 0700). */
export async function writeAdminKeyFile(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  await chmod(path, 0o600); // writeFile's mode applies only when it creates the file
}
