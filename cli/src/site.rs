//! Plain HTTP on the WebSocket port: the `--console` page and `--static`
//! files, answered from the library's handshake hook.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tinyws::{Action, Reply, Request, Upgrade};

/// The page `--console` serves at `/`.
const CONSOLE: &str = include_str!("console.html");
/// Files are read whole into memory to answer, so this bounds what one
/// request can cost a Pi.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// What plain HTTP requests get.
#[derive(Debug)]
pub(crate) struct Site {
    /// The `--static` directory, canonical, so every path served can be
    /// checked to lie inside it.
    root: Option<PathBuf>,
    console: bool,
}

impl Site {
    /// # Errors
    /// When `static_dir` is not a readable directory.
    pub(crate) fn new(static_dir: Option<&Path>, console: bool) -> io::Result<Site> {
        let root = match static_dir {
            Some(dir) => {
                let root = dir.canonicalize()?;
                if !root.is_dir() {
                    return Err(io::Error::new(io::ErrorKind::Other, "not a directory"));
                }
                Some(root)
            }
            None => None,
        };
        Ok(Site { root, console })
    }

    /// The handshake hook: upgrades go ahead; plain requests get the console
    /// or a file, or the library's 426 when there is nothing to serve.
    pub(crate) fn answer(&self, req: &Request) -> Action {
        if req.is_upgrade() || (self.root.is_none() && !self.console) {
            return Upgrade::new().into();
        }
        let head = match req.method() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                return Reply::text(405, "only GET and HEAD\n")
                    .header("Allow", "GET, HEAD")
                    .into()
            }
        };
        let response = if self.console && req.path() == "/" {
            Reply::html(CONSOLE).header("Cache-Control", "no-cache")
        } else {
            match &self.root {
                Some(root) => serve_file(root, req.path()),
                None => Reply::text(404, "not found\n"),
            }
        };
        if head {
            response.body(Vec::new()).into()
        } else {
            response.into()
        }
    }
}

fn serve_file(root: &Path, url_path: &str) -> Reply {
    let path = match resolve(root, url_path) {
        Ok(path) => path,
        Err(status) => {
            let body = match status {
                400 => "bad request\n",
                403 => "forbidden\n",
                _ => "not found\n",
            };
            return Reply::text(status, body);
        }
    };
    let contents = fs::File::open(&path).and_then(|f| {
        let mut data = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(f, MAX_FILE + 1), &mut data)?;
        Ok(data)
    });
    match contents {
        Ok(data) if data.len() as u64 > MAX_FILE => {
            log::warn!("{} is over 16 MiB, too large to serve", path.display());
            Reply::text(500, "file too large\n")
        }
        Ok(data) => Reply::new(200)
            .header("Content-Type", content_type(&path))
            .header("X-Content-Type-Options", "nosniff")
            .header("Cache-Control", "no-cache")
            .body(data),
        Err(e) => {
            log::warn!("cannot read {}: {}", path.display(), e);
            Reply::text(404, "not found\n")
        }
    }
}

/// Maps a URL path to a regular file inside `root`, or the status refusing
/// it. `..` segments (also percent-encoded) are refused outright; symlinks
/// are followed and the result must still lie inside `root`.
pub(crate) fn resolve(root: &Path, url_path: &str) -> Result<PathBuf, u16> {
    let decoded = percent_decode(url_path.as_bytes()).ok_or(400_u16)?;
    if !decoded.starts_with(b"/") || decoded.contains(&0) {
        return Err(400);
    }
    let mut path = root.to_path_buf();
    for segment in decoded.split(|b| *b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(403),
            name => path.push(OsStr::from_bytes(name)),
        }
    }
    let mut found = inside(root, &path)?;
    if found.is_dir() {
        found = inside(root, &found.join("index.html"))?;
    }
    if found.is_file() {
        Ok(found)
    } else {
        // Devices, sockets and FIFOs are never served: a FIFO would block.
        Err(404)
    }
}

/// The canonical form of `path`, which must exist and lie inside `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, u16> {
    let canonical = path.canonicalize().map_err(|_| 404_u16)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        log::warn!("refused {}: outside the static directory", path.display());
        Err(403)
    }
}

/// Decodes `%XX` escapes; `None` for a malformed one.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("wasm") => "application/wasm",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%20b").unwrap(), b"/a b");
        assert_eq!(percent_decode(b"/%2e%2E/x").unwrap(), b"/../x");
        assert!(percent_decode(b"/%zz").is_none());
        assert!(percent_decode(b"/%2").is_none());
    }

    #[test]
    fn traversal_is_refused_before_touching_the_disk() {
        let root = Path::new("/nonexistent-tinyws-root");
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/etc/passwd",
            "/%2E%2e",
        ] {
            assert_eq!(resolve(root, bad), Err(403), "{}", bad);
        }
        for bad in ["etc/passwd", "/a%00b", "/%"] {
            assert_eq!(resolve(root, bad), Err(400), "{}", bad);
        }
    }

    #[test]
    fn content_types() {
        for (file, ty) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.JS", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("Makefile", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(file)), ty);
        }
    }
}
