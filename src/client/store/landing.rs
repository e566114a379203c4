//! Where a store download lands: the destination checked (absent, in an existing
//! directory), a hidden partial directory beside it that the tree is received into,
//! and the verified entry renamed into place (never over something that appeared).

use crate::proto::status::Status;
use crate::sys;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Where a download goes: the destination's directory, its name there, and the hidden
/// directory the tree is received into.
pub(super) struct Landing {
    parent: PathBuf,
    parent_dir: File,
    dest_name: OsString,
    part_name: OsString,
    pub(super) part_dir: File,
    /// The destination as typed (relative paths: to the working directory).
    pub(super) shown: PathBuf,
}

impl Landing {
    /// Check `dest` (absent, in an existing directory) and make its hidden partial directory.
    pub(super) fn prepare(dest: &str) -> Result<Landing, (Status, String)> {
        let shown = PathBuf::from(dest);
        let dest_name = shown
            .file_name()
            .map(OsString::from)
            .ok_or_else(|| (Status::BAD_REQUEST, format!("{dest} names no file")))?;
        let parent = match shown.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if std::fs::symlink_metadata(&shown).is_ok() {
            return Err((Status::NAME_TAKEN, format!("{dest} already exists")));
        }
        let parent_dir = sys::open_dir(&parent).map_err(|e| {
            (
                Status::NO_FILE,
                format!(
                    "{}: {e} (the destination's directory must exist)",
                    parent.display()
                ),
            )
        })?;
        let mut part_name = OsString::from(".");
        part_name.push(&dest_name);
        part_name.push(".peerhub-part");
        // A leftover of an interrupted download is started over.
        let _ = std::fs::remove_dir_all(parent.join(&part_name));
        let fail = |e: io::Error| {
            (
                crate::transfer::stream::write_status(&e),
                format!(
                    "cannot create a partial directory in {}: {e}",
                    parent.display()
                ),
            )
        };
        sys::mkdir_beneath(&parent_dir, Path::new(&part_name)).map_err(fail)?;
        let part_dir = sys::open_dir_beneath(&parent_dir, Path::new(&part_name)).map_err(fail)?;
        Ok(Landing {
            parent,
            parent_dir,
            dest_name,
            part_name,
            part_dir,
            shown,
        })
    }

    /// Move the verified entry `name` into place (never over something that appeared).
    pub(super) fn commit(&self, name: &str) -> Result<(), (Status, String)> {
        let from = Path::new(&self.part_name).join(name);
        let to = Path::new(&self.dest_name);
        sys::rename_beneath_noreplace(&self.parent_dir, &from, to).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                (
                    Status::NAME_TAKEN,
                    format!("{} appeared during the download", self.shown.display()),
                )
            } else {
                (
                    Status::INTERNAL,
                    format!("renaming into {}: {e}", self.shown.display()),
                )
            }
        })?;
        self.discard();
        Ok(())
    }

    /// Remove the partial directory and whatever is in it.
    pub(super) fn discard(&self) {
        let _ = std::fs::remove_dir_all(self.parent.join(&self.part_name));
    }
}
