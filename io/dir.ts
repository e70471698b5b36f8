/**
 * Folder listings that follow symbolic links. DataLad, git-annex and DVC datasets are folders of
 * links, whose directory entries say `isSymlink` and neither `isFile` nor `isDirectory`: a
 * listing that trusted those flags would drop every case without a word.
 */
import { join } from "node:path";
import { DataError, fileAccessError } from "./errors.ts";

/**
 * The entries of `dir` (unsorted), each link replaced by what it points to. A link to nothing
 * (content not fetched) is a DataError naming it; hidden entries are passed through unchecked.
 */
export function readDirFollowing(dir: string): Deno.DirEntry[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    throw fileAccessError(dir, e);
  }
  return entries.map((e) => {
    if (!e.isSymlink || e.name.startsWith(".")) return e;
    const path = join(dir, e.name);
    let target: Deno.FileInfo;
    try {
      target = Deno.statSync(path);
    } catch {
      throw new DataError(
        path,
        "is a symbolic link to a file that is not there",
        "fetch the dataset's content (datalad get, git annex get, dvc pull) or remove the link",
      );
    }
    return {
      name: e.name,
      isFile: target.isFile,
      isDirectory: target.isDirectory,
      isSymlink: true,
    };
  });
}
