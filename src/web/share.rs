//! The peer's share dir over HTTP, for the page: `GET /share` lists its files and
//! directories as JSON, `PUT /share/<name>` streams a body into `<share>/.<name>.part`
//! and renames it into place only when whole, `GET /share/<name>` sends a file as a
//! download. A name is one path component and never hidden (no leading `.`: not
//! `.peerhub-*`, not a partial file), so nothing outside the share dir, nor any of
//! peerhub's own files, is read or written. The loop moves the bytes, [`PIECE`] per
//! connection per turn.

use super::response::Response;
use serde_json::json;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Bytes one upload or download moves per turn of the loop before the others run.
pub const PIECE: usize = 256 * 1024;
/// An upload whose body sends nothing for this long is dropped (its partial file too).
pub const BODY_STALL: Duration = Duration::from_secs(30);
/// Files `GET /share` lists at most.
pub const MAX_LISTED: usize = 10_000;
/// The default of `--web-max-upload`: the largest body `PUT /share/<name>` takes.
pub const DEFAULT_MAX_UPLOAD: u64 = 4 << 30;

/// The share dir the page may see, and the largest upload it takes.
#[derive(Debug, Clone)]
pub struct Share {
    pub dir: PathBuf,
    pub max_upload: u64,
}

/// The file name `tail` (the path after `/share/`, percent-encoded) names, if it is one
/// the share serves: one component, UTF-8, not hidden, at most 255 bytes.
pub fn file_name(tail: &str) -> Option<String> {
    let bytes = tail.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control);
    plain.then_some(name)
}

/// `GET /share`: the share dir's absolute path (`dir`, so the page can name its entries
/// in commands that take paths from the working directory: `upload`, `download`) and
/// its visible regular files and directories (name, `kind` — `file` or `dir` —, size
/// (0 for a directory), mtime in Unix seconds, and whether `published` says this
/// client publishes it), by name. Symbolic links are not listed.
pub fn list(share: &Share, published: &dyn Fn(&str) -> bool) -> Response {
    let entries = match fs::read_dir(&share.dir) {
        Ok(entries) => entries,
        Err(e) => return Response::text(500, &format!("the share dir: {e}")),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().and_then(file_name) else {
            continue;
        };
        // Not followed: a link's own metadata, neither a file nor a directory.
        let Ok(meta) = entry.metadata() else { continue };
        let kind = match meta.file_type() {
            t if t.is_file() => "file",
            t if t.is_dir() => "dir",
            _ => continue,
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let size = if meta.is_file() { meta.len() } else { 0 };
        let shared = meta.is_file() && published(&name);
        files.push((name, kind, size, mtime, shared));
        if files.len() >= MAX_LISTED {
            break;
        }
    }
    files.sort();
    let files: Vec<_> = files
        .into_iter()
        .map(|(name, kind, size, mtime, published)| {
            json!({"name": name, "kind": kind, "size": size, "mtime": mtime, "published": published})
        })
        .collect();
    let dir = fs::canonicalize(&share.dir).unwrap_or_else(|_| share.dir.clone());
    let body = json!({ "dir": dir.to_string_lossy(), "files": files }).to_string();
    Response::new(200, "application/json", body)
}

/// `GET /share/<name>`: the file opened, its size, and the head to send before it.
pub fn download(share: &Share, tail: &str) -> Result<(File, u64, Vec<u8>), Response> {
    let missing = || Response::text(404, "no such file in the share");
    let name = file_name(tail).ok_or_else(missing)?;
    let path = share.dir.join(&name);
    let meta = fs::symlink_metadata(&path).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(missing());
    }
    let file = File::open(&path).map_err(|_| missing())?;
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let head = Response::new(200, "application/octet-stream", Vec::new())
        .header(
            "Content-Disposition",
            format!("attachment; filename*=UTF-8''{encoded}"),
        )
        .head_bytes(meta.len());
    Ok((file, meta.len(), head))
}

/// A `PUT /share/<name>` whose body is streaming into its partial file.
#[derive(Debug)]
pub struct Upload {
    file: File,
    part: PathBuf,
    dest: PathBuf,
    name: String,
    size: u64,
    left: u64,
    /// When it is dropped unless more of the body comes.
    pub stall_at: Instant,
}

impl Upload {
    /// Begin the upload of `tail` with a body of `length` bytes: 400 for a bad name, 411
    /// without a length, 413 past the limit, 409 if the file exists.
    pub fn begin(
        share: &Share,
        tail: &str,
        length: Option<u64>,
        now: Instant,
    ) -> Result<Upload, Response> {
        let name = file_name(tail).ok_or_else(|| {
            Response::text(
                400,
                "a file name: one path component, not starting with '.'",
            )
        })?;
        let size = length.ok_or_else(|| Response::text(411, "send a Content-Length"))?;
        if size > share.max_upload {
            let why = format!("over --web-max-upload ({} bytes)", share.max_upload);
            return Err(Response::text(413, &why));
        }
        let dest = share.dir.join(&name);
        if fs::symlink_metadata(&dest).is_ok() {
            return Err(Response::text(409, "a file of that name is in the share"));
        }
        let part = share.dir.join(format!(".{name}.part"));
        // Not through a link planted under the partial file's name.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&part)
            .map_err(|e| Response::text(500, &format!("the partial file: {e}")))?;
        Ok(Upload {
            file,
            part,
            dest,
            name,
            size,
            left: size,
            stall_at: now + BODY_STALL,
        })
    }

    /// Bytes of the body still to come.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Write `bytes` of the body (anything past its length is not taken).
    pub fn take(&mut self, bytes: &[u8], now: Instant) -> io::Result<()> {
        let n = bytes
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.file.write_all(&bytes[..n])?;
        self.left -= n as u64;
        self.stall_at = now + BODY_STALL;
        Ok(())
    }

    /// The whole body is in: rename it into place (201), unless a file of that name
    /// appeared meanwhile (409, the partial file removed).
    pub fn finish(self) -> Response {
        if fs::symlink_metadata(&self.dest).is_ok() {
            self.abandon();
            return Response::text(409, "a file of that name is in the share");
        }
        if let Err(e) = self
            .file
            .sync_all()
            .and_then(|()| fs::rename(&self.part, &self.dest))
        {
            self.abandon();
            return Response::text(500, &format!("could not put the file in place: {e}"));
        }
        let body = json!({"name": self.name, "size": self.size}).to_string();
        Response::new(201, "application/json", body)
    }

    /// Cut off (or failed): remove the partial file; nothing appears.
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.part);
    }
}

/// Whether `path` lies in the share namespace: `/share` or `/share/<tail>`.
pub fn route(path: &str) -> Option<&str> {
    match path {
        "/share" | "/share/" => Some(""),
        _ => path.strip_prefix("/share/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_visible_component() {
        assert_eq!(file_name("song.mp3").as_deref(), Some("song.mp3"));
        assert_eq!(file_name("my%20song.mp3").as_deref(), Some("my song.mp3"));
        assert_eq!(file_name("%C3%A9t%C3%A9.txt").as_deref(), Some("été.txt"));
        for bad in [
            "",
            ".peerhub-identity.pem",
            ".song.part",
            "..",
            "a/b",
            "..%2Fetc%2Fpasswd",
            "%2e%2e%2fx",
            "a%5Cb",
            "a%00b",
            "%zz",
            "%4",
            "%FF%FE",
            "a%0Ab",
        ] {
            assert_eq!(file_name(bad), None, "{bad:?}");
        }
        assert_eq!(file_name(&"x".repeat(256)), None);
    }

    #[test]
    fn an_upload_lands_whole_or_not_at_all_and_never_through_a_link() {
        let dir = crate::testing::TempDir::new("web-share");
        let share = Share {
            dir: dir.path().join("share"),
            max_upload: 10,
        };
        fs::create_dir(&share.dir).unwrap();
        let now = Instant::now();
        let mut up = Upload::begin(&share, "a.txt", Some(5), now).unwrap();
        up.take(b"hel", now).unwrap();
        assert!(!share.dir.join("a.txt").exists(), "not before it is whole");
        up.take(b"lo and more", now).unwrap();
        assert_eq!(up.left(), 0);
        assert_eq!(up.finish().status(), 201);
        assert_eq!(fs::read(share.dir.join("a.txt")).unwrap(), b"hello");
        assert_eq!(
            Upload::begin(&share, "a.txt", Some(1), now)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            Upload::begin(&share, "b.txt", Some(11), now)
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            Upload::begin(&share, "b.txt", None, now)
                .unwrap_err()
                .status(),
            411
        );
        let cut = Upload::begin(&share, "c.txt", Some(5), now).unwrap();
        cut.abandon();
        assert_eq!(fs::read_dir(&share.dir).unwrap().count(), 1, "only a.txt");
        let outside = dir.path().join("outside");
        std::os::unix::fs::symlink(&outside, share.dir.join(".d.txt.part")).unwrap();
        assert_eq!(
            Upload::begin(&share, "d.txt", Some(1), now)
                .unwrap_err()
                .status(),
            500
        );
        assert!(!outside.exists());
    }

    #[test]
    fn routes_under_share_only() {
        assert_eq!(route("/share"), Some(""));
        assert_eq!(route("/share/a.txt"), Some("a.txt"));
        assert_eq!(route("/shared"), None);
        assert_eq!(route("/"), None);
    }
}
